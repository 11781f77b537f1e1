package api

import (
	"context"
	"crypto/sha256"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/page"
	"github.com/edgeplane/edgeplane/controlplane/internal/pki"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Fleet implements edgeplanev1.FleetServiceServer and edgeplanev1.AgentServiceServer.
type Fleet struct {
	edgeplanev1.UnimplementedFleetServiceServer
	edgeplanev1.UnimplementedAgentServiceServer
	Fanout *fanout.Fanout
	// Sessions, once closed, ends every agent stream, which lets a graceful stop finish.
	// Nil: each stream ends with its own context only.
	Sessions <-chan struct{}
	// Enrollment serves Enroll and RevokeAgent; its Enroller is nil when TLS is off.
	Enrollment *Enrollment
	// RequireCert makes Connect demand a verified agent certificate and bind the stream to
	// the node id it names (TLS on). False: the Hello's node id is taken as it is.
	RequireCert bool
}

var (
	_ edgeplanev1.FleetServiceServer = (*Fleet)(nil)
	_ edgeplanev1.AgentServiceServer = (*Fleet)(nil)
)

// maxListAgentsBytes bounds the agents of one ListAgents page, in encoded bytes.
const maxListAgentsBytes = 3 << 20

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
	// Agents with many targets report their health (up to 1,000 entries each): a page stops
	// before it outgrows what a gRPC client takes by default (4 MiB).
	items, next = page.Fit(items, (*edgeplanev1.Agent).GetNodeId, func(a *edgeplanev1.Agent) int { return proto.Size(a) },
		maxListAgentsBytes, next)
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
	var id *fanout.Identity
	if h.RequireCert {
		var err error
		if id, err = h.identify(ctx); err != nil {
			return err
		}
	}
	return enrollStatus(h.Fanout.ServeAs(ctx, bareStream(stream), id))
}

// bareStream is the stream gRPC made for the call, under the generated wrapper and the
// interceptors' tracedStreams, which only change Context (the session gets the traced
// context from Connect instead). Hot: a session sends every update and receives every Ack
// on it, and each wrapper was one more object to load per message: with 10,000 agents
// none of them is in the CPU's cache.
func bareStream(stream edgeplanev1.AgentService_ConnectServer) fanout.Stream {
	var ss grpc.ServerStream = stream
	if g, ok := ss.(*grpc.GenericServerStream[edgeplanev1.AgentMessage, edgeplanev1.ControlMessage]); ok {
		ss = g.ServerStream
	}
	for {
		t, ok := ss.(*tracedStream)
		if !ok {
			return ss
		}
		ss = t.ServerStream
	}
}

// identify checks the stream's client certificate: present, an agent's, not revoked.
func (h *Fleet) identify(ctx context.Context) (*fanout.Identity, error) {
	leaf := auth.VerifiedCert(ctx)
	if leaf == nil {
		return nil, status.Error(codes.Unauthenticated,
			"agents must connect with the client certificate they enrolled for (edgeplane-agent --join-token ... --ca-pin ...)")
	}
	ident, err := pki.IdentityOf(leaf)
	if err != nil || ident.Role != pki.RoleAgent {
		return nil, status.Error(codes.PermissionDenied, "the client certificate is not an agent's (OU=agent)")
	}
	e := h.Enrollment.Enroller
	if err := e.CheckRevoked(ctx, ident); err != nil {
		return nil, enrollStatus(err)
	}
	enr, err := e.Store.Enrollment(ctx, ident.Name)
	if err != nil {
		return nil, toStatus(err)
	}
	return &fanout.Identity{Node: ident.Name, Fingerprint: sha256.Sum256(leaf.Raw), NotBefore: leaf.NotBefore,
		NotAfter: leaf.NotAfter, Labels: enr.Labels}, nil
}

// Enroll implements AgentService.Enroll.
func (h *Fleet) Enroll(ctx context.Context, req *edgeplanev1.EnrollRequest) (*edgeplanev1.EnrollResponse, error) {
	return h.Enrollment.enroll(ctx, req)
}

// RevokeAgent implements FleetService.RevokeAgent.
func (h *Fleet) RevokeAgent(ctx context.Context, req *edgeplanev1.RevokeAgentRequest) (*edgeplanev1.RevokeAgentResponse, error) {
	res, err := h.Enrollment.revoke(ctx, req)
	if err == nil {
		h.Fanout.Revoke(req.GetNodeId()) // this replica at once; the others hear it on Redis
	}
	return res, err
}

// mergeCancel returns a context of a that is also cancelled when b is closed.
func mergeCancel(a context.Context, b <-chan struct{}) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(a)
	go func() { // ends with ctx, which the caller's cancel ends
		select {
		case <-b:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
