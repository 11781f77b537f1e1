package api

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/page"
	"github.com/edgeplane/edgeplane/controlplane/internal/pki"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Enrollment implements edgeplanev1.EnrollmentServiceServer, and AgentService.Enroll and
// RevokeAgent for Fleet. A nil Enroller (TLS off) answers FailedPrecondition.
type Enrollment struct {
	edgeplanev1.UnimplementedEnrollmentServiceServer
	Enroller *pki.Enroller
}

var _ edgeplanev1.EnrollmentServiceServer = (*Enrollment)(nil)

// errNoTLS answers enrollment calls on a control plane serving plaintext.
var errNoTLS = status.Error(codes.FailedPrecondition,
	"enrollment needs TLS: this control plane runs with --insecure or --dev (agents connect without certificates)")

// CreateJoinToken implements EnrollmentService.CreateJoinToken.
func (h *Enrollment) CreateJoinToken(ctx context.Context, req *edgeplanev1.CreateJoinTokenRequest) (*edgeplanev1.CreateJoinTokenResponse, error) {
	if h.Enroller == nil {
		return nil, errNoTLS
	}
	if err := req.GetTtl().CheckValid(); req.Ttl != nil && err != nil {
		return nil, invalid("ttl", err.Error())
	}
	secret, t, err := h.Enroller.CreateToken(ctx, req.GetTtl().AsDuration(), int(req.GetMaxUses()), req.GetNodeId(), req.GetLabels())
	if err != nil {
		return nil, enrollStatus(err)
	}
	return &edgeplanev1.CreateJoinTokenResponse{JoinToken: secret, CaPin: h.Enroller.CA.Pin(), Token: tokenProto(t)}, nil
}

// ListJoinTokens implements EnrollmentService.ListJoinTokens.
func (h *Enrollment) ListJoinTokens(ctx context.Context, req *edgeplanev1.ListJoinTokensRequest) (*edgeplanev1.ListJoinTokensResponse, error) {
	if h.Enroller == nil {
		return nil, errNoTLS
	}
	all, err := h.Enroller.Store.ListJoinTokens(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	var live []*edgeplanev1.JoinToken
	for _, t := range all {
		if t.Uses < t.MaxUses {
			live = append(live, tokenProto(t))
		}
	}
	items, next, err := page.Slice(live, (*edgeplanev1.JoinToken).GetId, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ListJoinTokensResponse{Tokens: items, NextPageToken: next}, nil
}

// DeleteJoinToken implements EnrollmentService.DeleteJoinToken.
func (h *Enrollment) DeleteJoinToken(ctx context.Context, req *edgeplanev1.DeleteJoinTokenRequest) (*edgeplanev1.DeleteJoinTokenResponse, error) {
	if h.Enroller == nil {
		return nil, errNoTLS
	}
	if req.GetId() == "" || len(req.GetId()) > 64 {
		return nil, invalid("id", "is required (at most 64 characters)")
	}
	if err := h.Enroller.Store.DeleteJoinToken(ctx, req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.DeleteJoinTokenResponse{}, nil
}

// enroll implements AgentService.Enroll (see Fleet.Enroll).
func (h *Enrollment) enroll(ctx context.Context, req *edgeplanev1.EnrollRequest) (*edgeplanev1.EnrollResponse, error) {
	if h.Enroller == nil {
		return nil, errNoTLS
	}
	cert, node, err := h.Enroller.Enroll(ctx, req.GetJoinToken(), req.GetNodeId(), req.GetCsrPem())
	if err != nil {
		return nil, enrollStatus(err)
	}
	return &edgeplanev1.EnrollResponse{CertificatePem: cert, CaPem: h.Enroller.CA.PEM(), NodeId: node}, nil
}

// revoke implements FleetService.RevokeAgent (see Fleet.RevokeAgent).
func (h *Enrollment) revoke(ctx context.Context, req *edgeplanev1.RevokeAgentRequest) (*edgeplanev1.RevokeAgentResponse, error) {
	if h.Enroller == nil {
		return nil, errNoTLS
	}
	at, err := h.Enroller.Revoke(ctx, req.GetNodeId())
	if err != nil {
		return nil, enrollStatus(err)
	}
	return &edgeplanev1.RevokeAgentResponse{RevokeTime: timestamppb.New(at)}, nil
}

// enrollStatus is toStatus with model.ErrDenied as PermissionDenied.
func enrollStatus(err error) error {
	if errors.Is(err, model.ErrDenied) {
		return status.Error(codes.PermissionDenied, err.Error())
	}
	return toStatus(err)
}

func tokenProto(t store.JoinToken) *edgeplanev1.JoinToken {
	return &edgeplanev1.JoinToken{Id: t.ID, NodeId: t.NodeID, Labels: t.Labels, MaxUses: int32(t.MaxUses),
		Uses: int32(t.Uses), CreateTime: timestamppb.New(t.Created), ExpireTime: timestamppb.New(t.Expires)}
}
