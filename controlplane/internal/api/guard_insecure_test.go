package api

import (
	"context"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// auditLog keeps the audit events a guard emits.
type auditLog struct {
	mu     sync.Mutex // guards events
	events []map[string]string
}

func (l *auditLog) emit(_ context.Context, ev event.Event) {
	e := map[string]string{}
	for _, a := range event.Attrs(ev) {
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

// A flood of unauthenticated calls is audited at a bounded rate (the rest counted), while
// refusals of known callers are all audited.
func TestGuard_AnonymousAuditsBounded(t *testing.T) {
	st, secret := guardStore(t)
	policy, _ := auth.NewPolicy(auth.PolicyConfig{})
	log := &auditLog{}
	reg := prometheus.NewRegistry()
	g := &Guard{Auth: auth.NewAuthenticator(auth.Config{Enforce: true, Tokens: st}), Policy: policy,
		Streams: auth.NewStreamLimiter(8), Audit: log.emit, AnonymousAudits: 1, Registerer: reg}
	g.ServerOptions()
	info := &grpc.UnaryServerInfo{FullMethod: "/edgeplane.v1.RoutingService/CreateRoute"}
	h := func(context.Context, any) (any, error) { return nil, nil }
	for range 10 {
		_, _ = g.unary(context.Background(), &edgeplanev1.CreateRouteRequest{}, info, h)
	}
	viewer := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+secret))
	for range 5 {
		_, _ = g.unary(viewer, &edgeplanev1.CreateRouteRequest{}, info, h)
	}
	var anonymous, known int
	for _, e := range log.events {
		if e["principal"] == "anonymous" {
			anonymous++
		} else {
			known++
		}
	}
	if anonymous < 1 || anonymous > 2 || known != 5 {
		t.Errorf("audited %d anonymous refusals (want 1-2, the burst) and %d of the viewer's (want 5)", anonymous, known)
	}
	if got := testutil.ToFloat64(g.suppressed); int(got) != 10-anonymous {
		t.Errorf("edgeplane_audit_suppressed_total: got %v, want %d", got, 10-anonymous)
	}
}

// guardStore is a token store in a real redis-server holding one viewer token.
func guardStore(t *testing.T) (*store.Store, string) {
	t.Helper()
	rs := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := store.New(store.Config{Client: rdb, Namespace: "t"})
	_, secret, err := (&auth.TokenAdmin{Store: st}).Create(t.Context(), "the-viewer", "viewer", 0)
	if err != nil {
		t.Fatal(err)
	}
	return st, secret
}
