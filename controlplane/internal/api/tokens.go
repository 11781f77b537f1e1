package api

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Tokens implements edgeplanev1.TokenServiceServer. Only admins reach it (auth.Policy).
type Tokens struct {
	edgeplanev1.UnimplementedTokenServiceServer
	Admin *auth.TokenAdmin
}

var _ edgeplanev1.TokenServiceServer = (*Tokens)(nil)

// CreateToken implements TokenService.CreateToken.
func (h *Tokens) CreateToken(ctx context.Context, req *edgeplanev1.CreateTokenRequest) (*edgeplanev1.CreateTokenResponse, error) {
	if d := req.GetTtl(); d != nil && d.CheckValid() != nil {
		return nil, invalid("ttl", d.CheckValid().Error())
	}
	t, secret, err := h.Admin.Create(ctx, req.GetName(), req.GetRole(), req.GetTtl().AsDuration())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.CreateTokenResponse{Token: toProtoToken(t), Secret: secret}, nil
}

// ListTokens implements TokenService.ListTokens.
func (h *Tokens) ListTokens(ctx context.Context, _ *edgeplanev1.ListTokensRequest) (*edgeplanev1.ListTokensResponse, error) {
	all, err := h.Admin.List(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	res := &edgeplanev1.ListTokensResponse{Tokens: make([]*edgeplanev1.Token, len(all))}
	for i, t := range all {
		res.Tokens[i] = toProtoToken(t)
	}
	return res, nil
}

// DeleteToken implements TokenService.DeleteToken.
func (h *Tokens) DeleteToken(ctx context.Context, req *edgeplanev1.DeleteTokenRequest) (*edgeplanev1.DeleteTokenResponse, error) {
	if err := h.Admin.Delete(ctx, req.GetName()); err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.DeleteTokenResponse{}, nil
}

func toProtoToken(t store.Token) *edgeplanev1.Token {
	p := &edgeplanev1.Token{Name: t.Name, Role: t.Role, CreateTime: timestamppb.New(t.CreateTime)}
	if !t.ExpireTime.IsZero() {
		p.ExpireTime = timestamppb.New(t.ExpireTime)
	}
	return p
}
