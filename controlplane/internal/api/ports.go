package api

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/ports"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Ports implements edgeplanev1.PortServiceServer.
type Ports struct {
	edgeplanev1.UnimplementedPortServiceServer
	Allocator *ports.Allocator
}

var _ edgeplanev1.PortServiceServer = (*Ports)(nil)

// AllocatePort implements PortService.AllocatePort.
func (h *Ports) AllocatePort(ctx context.Context, req *edgeplanev1.AllocatePortRequest) (*edgeplanev1.AllocatePortResponse, error) {
	l, created, err := h.Allocator.Allocate(ctx, ports.Request{Purpose: req.GetPurpose(), Owner: req.GetOwner(),
		Host: req.GetHost(), Preferred: int(req.GetPreferred())})
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.AllocatePortResponse{Port: portMessage(l), Created: created}, nil
}

// ReleasePort implements PortService.ReleasePort.
func (h *Ports) ReleasePort(ctx context.Context, req *edgeplanev1.ReleasePortRequest) (*edgeplanev1.ReleasePortResponse, error) {
	var (
		l   store.PortLease
		err error
	)
	switch {
	case req.GetPort() != 0:
		l, err = h.Allocator.Release(ctx, req.GetHost(), int(req.GetPort()), req.GetOwner())
	case req.GetPurpose() != "" && req.GetOwner() != "":
		l, err = h.Allocator.ReleaseOwner(ctx, req.GetHost(), req.GetPurpose(), req.GetOwner())
	default:
		return nil, invalid("port", "set port, or purpose and owner")
	}
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ReleasePortResponse{Port: portMessage(l)}, nil
}

// ListPorts implements PortService.ListPorts.
func (h *Ports) ListPorts(ctx context.Context, req *edgeplanev1.ListPortsRequest) (*edgeplanev1.ListPortsResponse, error) {
	leases, next, err := h.Allocator.List(ctx, ports.Filter{Purpose: req.GetPurpose(), Owner: req.GetOwner(), Host: req.GetHost()},
		int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	res := &edgeplanev1.ListPortsResponse{NextPageToken: next, Ports: make([]*edgeplanev1.Port, len(leases))}
	for i, l := range leases {
		res.Ports[i] = portMessage(l)
	}
	return res, nil
}

func portMessage(l store.PortLease) *edgeplanev1.Port {
	return &edgeplanev1.Port{Port: int32(l.Port), Purpose: l.Purpose, Owner: l.Owner, Host: l.Host,
		AllocateTime: timestamppb.New(l.Time)}
}
