package api

import (
	"context"
	"crypto/tls"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
)

// below is a credential one step short of each role.
var below = map[auth.Role]auth.Role{
	auth.RoleViewer: auth.RoleAgent, auth.RoleOperator: auth.RoleViewer,
	auth.RoleAdmin: auth.RoleOperator, auth.RoleAgent: auth.RoleAdmin,
}

func TestGuard_EveryMethodRefusesUnauthenticatedAndWrongRole(t *testing.T) {
	e := newGuardEnv(t, 8, tls.VerifyClientCertIfGiven)
	anon := e.dial(t)
	agent := e.dial(t, e.ca.issue(t, "node-1", "agent", false))
	as := func(ctx context.Context, r auth.Role) (context.Context, func() *grpc.ClientConn) {
		if r == auth.RoleAgent {
			return ctx, func() *grpc.ClientConn { return agent }
		}
		return withToken(ctx, e.secrets[r]), func() *grpc.ClientConn { return anon }
	}
	checked := 0
	for svc, info := range e.srv.GetServiceInfo() {
		for _, m := range info.Methods {
			method := "/" + svc + "/" + m.Name
			stream := m.IsClientStream || m.IsServerStream
			rule, ok := e.policy.Rule(method)
			if !ok {
				t.Errorf("%s is not in the access table", method)
				continue
			}
			if rule.Open {
				continue
			}
			t.Run(method, func(t *testing.T) {
				before := e.reachedCount(method)
				err := call(t.Context(), anon, method, stream)
				if status.Code(err) != codes.Unauthenticated {
					t.Errorf("no credential: got %v, want Unauthenticated", err)
				}
				ctx, conn := as(t.Context(), below[rule.Role])
				if err := call(ctx, conn(), method, stream); status.Code(err) != codes.PermissionDenied {
					t.Errorf("role %s (needs %s): got %v, want PermissionDenied", below[rule.Role], rule.Role, err)
				}
				if got := e.reachedCount(method); got != before {
					t.Fatalf("refused calls reached the handler %d times", got-before)
				}
				ctx, conn = as(t.Context(), rule.Role)
				_ = call(ctx, conn(), method, stream)
				if got := e.reachedCount(method); got != before+1 {
					t.Errorf("role %s: the call did not reach the handler", rule.Role)
				}
			})
			checked++
		}
	}
	if checked < 35 {
		t.Errorf("checked %d methods; the services registered have more", checked)
	}
}

func TestGuard_OpenMethodsNeedNoCredential(t *testing.T) {
	e := newGuardEnv(t, 8, tls.VerifyClientCertIfGiven)
	if err := call(t.Context(), e.dial(t), "/grpc.health.v1.Health/Check", false); err != nil {
		t.Errorf("health check without a credential: %v", err)
	}
}

func TestGuard_ClientCertificates(t *testing.T) {
	e := newGuardEnv(t, 8, tls.VerifyClientCertIfGiven)
	other := newTestCA(t, "another CA")
	const create = "/edgeplane.v1.RoutingService/CreateRoute"
	tests := []struct {
		name string
		cert tls.Certificate
		want codes.Code
	}{
		{"operator certificate", e.ca.issue(t, "deployer", "operator", false), codes.Unimplemented},
		{"viewer certificate", e.ca.issue(t, "dashboard", "viewer", false), codes.PermissionDenied},
		{"agent certificate", e.ca.issue(t, "node-1", "agent", false), codes.PermissionDenied},
		{"no role", e.ca.issue(t, "nobody", "", false), codes.Unauthenticated},
		{"unknown role", e.ca.issue(t, "x", "root", false), codes.Unauthenticated},
		{"another CA's admin certificate", other.issue(t, "mallory", "admin", false), codes.Unavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.reachedCount(create)
			err := call(t.Context(), e.dial(t, tt.cert), create, false)
			if status.Code(err) != tt.want {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if reached := e.reachedCount(create) - before; (reached == 1) != (tt.want == codes.Unimplemented) {
				t.Errorf("reached the handler %d times", reached)
			}
		})
	}
}

// With a server that requests certificates without verifying them, an unverified one
// proves nothing: the guard only trusts chains TLS verified.
func TestGuard_UnverifiedCertificateIsNoCredential(t *testing.T) {
	e := newGuardEnv(t, 8, tls.RequestClientCert)
	forged := newTestCA(t, "another CA").issue(t, "mallory", "admin", false)
	err := call(t.Context(), e.dial(t, forged), "/edgeplane.v1.RoutingService/CreateRoute", false)
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("got %v, want Unauthenticated", err)
	}
}
