package api

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/routing"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// MaxWaitForAgents caps wait_for_agents.
const MaxWaitForAgents = 5 * time.Minute

// Routing implements edgeplanev1.RoutingServiceServer.
type Routing struct {
	edgeplanev1.UnimplementedRoutingServiceServer
	Routes *routing.Service
	Fleet  *fanout.Fanout
}

var _ edgeplanev1.RoutingServiceServer = (*Routing)(nil)

// CreateRoute implements RoutingService.CreateRoute.
func (h *Routing) CreateRoute(ctx context.Context, req *edgeplanev1.CreateRouteRequest) (*edgeplanev1.CreateRouteResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	r, err := h.Routes.Create(ctx, req.GetRoute())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.CreateRouteResponse{Route: r, Propagation: propagate(ctx, h.Fleet, r.GetRevision(), wait)}, nil
}

// GetRoute implements RoutingService.GetRoute.
func (h *Routing) GetRoute(ctx context.Context, req *edgeplanev1.GetRouteRequest) (*edgeplanev1.GetRouteResponse, error) {
	r, err := h.Routes.Get(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.GetRouteResponse{Route: r}, nil
}

// ListRoutes implements RoutingService.ListRoutes.
func (h *Routing) ListRoutes(ctx context.Context, req *edgeplanev1.ListRoutesRequest) (*edgeplanev1.ListRoutesResponse, error) {
	routes, next, rev, err := h.Routes.List(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ListRoutesResponse{Routes: routes, NextPageToken: next, Revision: rev}, nil
}

// UpdateRoute implements RoutingService.UpdateRoute.
func (h *Routing) UpdateRoute(ctx context.Context, req *edgeplanev1.UpdateRouteRequest) (*edgeplanev1.UpdateRouteResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	r, err := h.Routes.Update(ctx, req.GetRoute(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.UpdateRouteResponse{Route: r, Propagation: propagate(ctx, h.Fleet, r.GetRevision(), wait)}, nil
}

// DeleteRoute implements RoutingService.DeleteRoute.
func (h *Routing) DeleteRoute(ctx context.Context, req *edgeplanev1.DeleteRouteRequest) (*edgeplanev1.DeleteRouteResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	rev, err := h.Routes.Delete(ctx, req.GetName(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.DeleteRouteResponse{Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// waitFor checks wait_for_agents; 0 means do not wait.
func waitFor(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, invalid("wait_for_agents", err.Error())
	}
	w := d.AsDuration()
	if w < 0 || w > MaxWaitForAgents {
		return 0, invalid("wait_for_agents", "must be between 0 and "+MaxWaitForAgents.String())
	}
	return w, nil
}

// propagate waits up to wait for the fleet to answer rev (a write's revision; 0 when nothing
// was committed). The write is committed either way, so a failure to read the fleet is
// reported as an empty propagation rather than failing the call; nil when not asked to wait.
func propagate(ctx context.Context, fleet *fanout.Fanout, rev int64, wait time.Duration) *edgeplanev1.Propagation {
	if wait == 0 || rev == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	p, err := fleet.Wait(ctx, rev)
	if err != nil {
		return &edgeplanev1.Propagation{Revision: rev}
	}
	return p
}
