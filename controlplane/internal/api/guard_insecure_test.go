package api

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// auditLog keeps the audit events a guard emits.
type auditLog struct {
	mu     sync.Mutex // guards events
	events []map[string]string
}

func (l *auditLog) emit(_ context.Context, _ string, attrs ...slog.Attr) {
	e := map[string]string{}
	for _, a := range attrs {
		e[a.Key] = a.Value.String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// With authentication off (plaintext on loopback) every call is insecure-loopback's, an
// admin that may also connect as an agent; writes are still audited.
func TestGuard_OffEveryCallerIsInsecureAdmin(t *testing.T) {
	policy, _ := auth.NewPolicy(auth.PolicyConfig{})
	log := &auditLog{}
	g := &Guard{Auth: auth.NewAuthenticator(auth.Config{}), Policy: policy, Streams: auth.NewStreamLimiter(8), Audit: log.emit}
	var got auth.Principal
	h := func(ctx context.Context, _ any) (any, error) { got, _ = auth.FromContext(ctx); return nil, nil }
	for _, method := range []string{"/edgeplane.v1.TokenService/CreateToken", "/edgeplane.v1.RoutingService/ListRoutes"} {
		got = auth.Principal{}
		if _, err := g.unary(context.Background(), &edgeplanev1.CreateTokenRequest{Name: "x"}, &grpc.UnaryServerInfo{FullMethod: method}, h); err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		if got != auth.Insecure {
			t.Errorf("%s: handler saw %+v, want %+v", method, got, auth.Insecure)
		}
	}
	connect := func(_ any, ss grpc.ServerStream) error { got, _ = auth.FromContext(ss.Context()); return nil }
	got = auth.Principal{}
	err := g.stream(nil, &tracedStream{ctx: context.Background()}, &grpc.StreamServerInfo{FullMethod: "/edgeplane.v1.AgentService/Connect"}, connect)
	if err != nil || got != auth.Insecure {
		t.Errorf("Connect: got %+v, %v; want %+v", got, err, auth.Insecure)
	}
	if len(log.events) != 1 || log.events[0]["principal"] != "insecure-loopback" || log.events[0]["outcome"] != "ok" ||
		log.events[0]["method"] != "/edgeplane.v1.TokenService/CreateToken" || log.events[0]["resource"] != "x" {
		t.Errorf("audit: got %v, want one event for CreateToken by insecure-loopback", log.events)
	}
}
