package auth

import (
	"errors"
	"testing"
)

func TestAllows(t *testing.T) {
	tests := []struct {
		have, need Role
		want       bool
	}{
		{RoleAdmin, RoleAdmin, true}, {RoleAdmin, RoleOperator, true}, {RoleAdmin, RoleViewer, true},
		{RoleOperator, RoleAdmin, false}, {RoleOperator, RoleOperator, true}, {RoleOperator, RoleViewer, true},
		{RoleViewer, RoleOperator, false}, {RoleViewer, RoleViewer, true},
		{RoleAgent, RoleAgent, true}, {RoleAgent, RoleViewer, false}, {RoleAdmin, RoleAgent, false},
		{"", RoleViewer, false}, {"root", RoleViewer, false}, {RoleViewer, "", false},
	}
	for _, tt := range tests {
		if got := Allows(tt.have, tt.need); got != tt.want {
			t.Errorf("Allows(%q, %q): got %v, want %v", tt.have, tt.need, got, tt.want)
		}
	}
}

func TestPolicy_Authorize(t *testing.T) {
	p, err := NewPolicy(PolicyConfig{})
	if err != nil {
		t.Fatal(err)
	}
	op, _ := NewPolicy(PolicyConfig{DockerCreateRole: RoleOperator})
	tests := []struct {
		name   string
		policy *Policy
		role   Role
		method string
		want   error
		write  bool
	}{
		{"viewer reads", p, RoleViewer, "/edgeplane.v1.RoutingService/ListRoutes", nil, false},
		{"viewer writes", p, RoleViewer, "/edgeplane.v1.RoutingService/CreateRoute", ErrPermissionDenied, true},
		{"operator writes", p, RoleOperator, "/edgeplane.v1.RoutingService/CreateRoute", nil, true},
		{"operator creates a service", p, RoleOperator, "/edgeplane.v1.DockerService/CreateService", ErrPermissionDenied, true},
		{"operator creates a service when allowed", op, RoleOperator, "/edgeplane.v1.DockerService/CreateService", nil, true},
		{"viewer creates a service even so", op, RoleViewer, "/edgeplane.v1.DockerService/CreateService", ErrPermissionDenied, true},
		{"admin creates a service", p, RoleAdmin, "/edgeplane.v1.DockerService/CreateService", nil, true},
		{"operator makes a token", p, RoleOperator, "/edgeplane.v1.TokenService/CreateToken", ErrPermissionDenied, true},
		{"admin lists tokens (not audited)", p, RoleAdmin, "/edgeplane.v1.TokenService/ListTokens", nil, false},
		{"admin makes a join token", p, RoleAdmin, "/edgeplane.v1.EnrollmentService/CreateJoinToken", nil, true},
		{"operator revokes an agent", p, RoleOperator, "/edgeplane.v1.FleetService/RevokeAgent", ErrPermissionDenied, true},
		{"agent connects", p, RoleAgent, "/edgeplane.v1.AgentService/Connect", nil, false},
		{"admin connects as an agent", p, RoleAdmin, "/edgeplane.v1.AgentService/Connect", ErrPermissionDenied, false},
		{"agent reads routes", p, RoleAgent, "/edgeplane.v1.RoutingService/ListRoutes", ErrPermissionDenied, false},
		{"unknown method", p, RoleAdmin, "/edgeplane.v1.RoutingService/DropAll", ErrPermissionDenied, true},
		{"unknown service", p, RoleAdmin, "/other.Service/Get", ErrPermissionDenied, true},
		{"health is open", p, "", "/grpc.health.v1.Health/Check", nil, false},
		{"enroll is open", p, "", "/edgeplane.v1.AgentService/Enroll", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.policy.Authorize(Principal{Name: "x", Role: tt.role, Via: "token"}, tt.method)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if r.Write != tt.write {
				t.Errorf("Write: got %v, want %v", r.Write, tt.write)
			}
		})
	}
}

func TestNewPolicy_RefusesOtherDockerRoles(t *testing.T) {
	for _, r := range []Role{RoleViewer, RoleAgent, "root"} {
		if _, err := NewPolicy(PolicyConfig{DockerCreateRole: r}); err == nil {
			t.Errorf("DockerCreateRole %q: got no error", r)
		}
	}
}

func TestStreamLimiter(t *testing.T) {
	l := NewStreamLimiter(2)
	a, b := Principal{Name: "a", Via: "token"}, Principal{Name: "b", Via: "token"}
	r1, err1 := l.Acquire(a)
	_, err2 := l.Acquire(a)
	if err1 != nil || err2 != nil {
		t.Fatalf("first two streams: %v, %v", err1, err2)
	}
	if _, err := l.Acquire(a); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("third stream of a: got %v, want ErrTooManyStreams", err)
	}
	if _, err := l.Acquire(b); err != nil {
		t.Fatalf("b's first stream: %v", err)
	}
	r1()
	r1() // releasing twice frees one slot only
	if _, err := l.Acquire(a); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := l.Acquire(a); !errors.Is(err, ErrTooManyStreams) {
		t.Fatalf("after a double release: got %v, want ErrTooManyStreams", err)
	}
}
