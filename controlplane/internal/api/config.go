package api

import (
	"context"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/apply"
	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
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
	// ServicesRole is the role a caller needs to declare services (the role of
	// DockerService.CreateService, since an apply may create them). Empty: admin.
	ServicesRole auth.Role
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
	if err := h.checkServicesRole(ctx, req); err != nil {
		return nil, err
	}
	res, err := h.Apply.Apply(ctx, apply.Request{Routes: req.GetRoutes(), Certificates: req.GetCertificates(),
		Services: req.GetServices(), DryRun: req.GetDryRun(), Prune: req.GetPrune(), Selector: req.GetSelector()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ApplyConfigResponse{Revision: res.Revision, Changes: res.Changes, DryRun: req.GetDryRun(),
		Propagation: propagate(ctx, h.Fleet, res.Latest, wait)}, nil
}

// checkServicesRole refuses a request declaring services (not a dry run) from a caller
// whose role may not create them. The interceptors checked the method's own role; this one
// depends on the request, so it is checked here.
func (h *Config) checkServicesRole(ctx context.Context, req *edgeplanev1.ApplyConfigRequest) error {
	if len(req.GetServices()) == 0 || req.GetDryRun() {
		return nil
	}
	need := h.ServicesRole
	if need == "" {
		need = auth.RoleAdmin
	}
	p, ok := auth.FromContext(ctx)
	if !ok || !auth.Allows(p.Role, need) {
		return status.Errorf(codes.PermissionDenied, "declaring services needs the %s role (as DockerService.CreateService does)", need)
	}
	return nil
}
