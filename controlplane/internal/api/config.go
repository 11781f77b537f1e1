package api

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/apply"
	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// MaxApplyBytes bounds the encoded size of one ApplyConfig request.
const MaxApplyBytes = 4 << 20

// Config implements edgeplanev1.ConfigServiceServer.
type Config struct {
	edgeplanev1.UnimplementedConfigServiceServer
	Apply *apply.Service
	Fleet *fanout.Fanout
}

var _ edgeplanev1.ConfigServiceServer = (*Config)(nil)

// ApplyConfig implements ConfigService.ApplyConfig.
func (h *Config) ApplyConfig(ctx context.Context, req *edgeplanev1.ApplyConfigRequest) (*edgeplanev1.ApplyConfigResponse, error) {
	if n := proto.Size(req); n > MaxApplyBytes {
		return nil, invalid("routes", fmt.Sprintf("the request is %d bytes; at most %d in one apply", n, MaxApplyBytes))
	}
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	res, err := h.Apply.Apply(ctx, apply.Request{Routes: req.GetRoutes(), Certificates: req.GetCertificates(),
		DryRun: req.GetDryRun(), Prune: req.GetPrune(), Selector: req.GetSelector()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ApplyConfigResponse{Revision: res.Revision, Changes: res.Changes, DryRun: req.GetDryRun(),
		Propagation: propagate(ctx, h.Fleet, res.Revision, wait)}, nil
}
