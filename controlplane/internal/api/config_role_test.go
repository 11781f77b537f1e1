package api

import (
	"context"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// TestApplyConfig_ServicesNeedTheCreateServiceRole: an apply declaring services needs the
// role DockerService.CreateService needs; a dry run or an apply without services does not.
func TestApplyConfig_ServicesNeedTheCreateServiceRole(t *testing.T) {
	withSvc := &edgeplanev1.ApplyConfigRequest{Services: []*edgeplanev1.Service{{Name: "web"}}}
	dry := &edgeplanev1.ApplyConfigRequest{Services: withSvc.GetServices(), DryRun: true}
	routesOnly := &edgeplanev1.ApplyConfigRequest{Routes: []*edgeplanev1.Route{{Name: "r"}}}
	tests := []struct {
		name string
		need auth.Role
		have auth.Role
		req  *edgeplanev1.ApplyConfigRequest
		want codes.Code
	}{
		{"operator declaring services", "", auth.RoleOperator, withSvc, codes.PermissionDenied},
		{"admin declaring services", "", auth.RoleAdmin, withSvc, codes.OK},
		{"operator when operators may create", auth.RoleOperator, auth.RoleOperator, withSvc, codes.OK},
		{"operator dry run", "", auth.RoleOperator, dry, codes.OK},
		{"operator routes only", "", auth.RoleOperator, routesOnly, codes.OK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := &Config{ServicesRole: tt.need}
			ctx := auth.NewContext(context.Background(), auth.Principal{Name: "x", Role: tt.have})
			if got := status.Code(h.checkServicesRole(ctx, tt.req)); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
