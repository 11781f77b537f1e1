package api

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// emptyRoutes answers ListRoutes with nothing, so a call costs only gRPC and the guard.
type emptyRoutes struct {
	edgeplanev1.UnimplementedRoutingServiceServer
}

func (emptyRoutes) ListRoutes(context.Context, *edgeplanev1.ListRoutesRequest) (*edgeplanev1.ListRoutesResponse, error) {
	return &edgeplanev1.ListRoutesResponse{}, nil
}

// benchGuard returns a guard (enforcing or not, with the given token cache time) and a
// viewer token in a real redis-server.
func benchGuard(b *testing.B, enforce bool, cacheTTL time.Duration) (*Guard, string) {
	b.Helper()
	rs := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr})
	b.Cleanup(func() { rdb.Close() })
	st := store.New(store.Config{Client: rdb, Namespace: "b"})
	_, secret, err := (&auth.TokenAdmin{Store: st}).Create(b.Context(), "bench", "viewer", 0)
	if err != nil {
		b.Fatal(err)
	}
	policy, _ := auth.NewPolicy(auth.PolicyConfig{})
	return &Guard{Auth: auth.NewAuthenticator(auth.Config{Enforce: enforce, Tokens: st, CacheTTL: cacheTTL}),
		Policy: policy, Streams: auth.NewStreamLimiter(8)}, secret
}

var benchCases = []struct {
	name     string
	enforce  bool
	cacheTTL time.Duration
}{
	{"auth=off", false, 0},
	{"auth=token", true, 0},
	{"auth=token-uncached", true, time.Nanosecond},
}

// BenchmarkGuard_Unary is the guard alone around a handler that does nothing.
func BenchmarkGuard_Unary(b *testing.B) {
	info := &grpc.UnaryServerInfo{FullMethod: "/edgeplane.v1.RoutingService/ListRoutes"}
	h := func(context.Context, any) (any, error) { return nil, nil }
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			g, secret := benchGuard(b, bc.enforce, bc.cacheTTL)
			ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+secret))
			req := &edgeplanev1.ListRoutesRequest{}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := g.unary(ctx, req, info, h); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGuard_Call is a whole ListRoutes call over loopback gRPC, with and without the
// guard enforcing authentication.
func BenchmarkGuard_Call(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			g, secret := benchGuard(b, bc.enforce, bc.cacheTTL)
			srv := grpc.NewServer(append(Interceptors(nil, nil), g.ServerOptions()...)...)
			edgeplanev1.RegisterRoutingServiceServer(srv, emptyRoutes{})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			go func() { _ = srv.Serve(ln) }()
			b.Cleanup(srv.Stop)
			conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { conn.Close() })
			client := edgeplanev1.NewRoutingServiceClient(conn)
			ctx := withToken(context.Background(), secret)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := client.ListRoutes(ctx, &edgeplanev1.ListRoutesRequest{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
