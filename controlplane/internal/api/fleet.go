package api

import (
	"context"

	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/page"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Fleet implements edgeplanev1.FleetServiceServer and edgeplanev1.AgentServiceServer.
type Fleet struct {
	edgeplanev1.UnimplementedFleetServiceServer
	edgeplanev1.UnimplementedAgentServiceServer
	Fanout *fanout.Fanout
	// Sessions is the context agent streams run under; cancelling it ends them all, which
	// lets a graceful stop finish. Nil means each stream's own context only.
	Sessions context.Context
}

var (
	_ edgeplanev1.FleetServiceServer = (*Fleet)(nil)
	_ edgeplanev1.AgentServiceServer = (*Fleet)(nil)
)

// ListAgents implements FleetService.ListAgents.
func (h *Fleet) ListAgents(ctx context.Context, req *edgeplanev1.ListAgentsRequest) (*edgeplanev1.ListAgentsResponse, error) {
	all, err := h.Fanout.Agents(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	items, next, err := page.Slice(all, (*edgeplanev1.Agent).GetNodeId, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ListAgentsResponse{Agents: items, NextPageToken: next}, nil
}

// GetAgent implements FleetService.GetAgent.
func (h *Fleet) GetAgent(ctx context.Context, req *edgeplanev1.GetAgentRequest) (*edgeplanev1.GetAgentResponse, error) {
	if req.GetNodeId() == "" {
		return nil, invalid("node_id", "is required")
	}
	a, err := h.Fanout.Agent(ctx, req.GetNodeId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.GetAgentResponse{Agent: a}, nil
}

// Connect implements AgentService.Connect.
func (h *Fleet) Connect(stream edgeplanev1.AgentService_ConnectServer) error {
	ctx := stream.Context()
	if h.Sessions != nil {
		var cancel context.CancelFunc
		ctx, cancel = mergeCancel(ctx, h.Sessions)
		defer cancel()
	}
	return toStatus(h.Fanout.Serve(ctx, stream))
}

// mergeCancel returns a context of a that is also cancelled when b is.
func mergeCancel(a, b context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	stop := context.AfterFunc(b, cancel)
	return ctx, func() { stop(); cancel() }
}
