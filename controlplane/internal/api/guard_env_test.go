package api

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// guardEnv is a real gRPC server over real TLS (a throwaway CA, client certificates
// verified if given) with every edgeplane service registered behind Guard, a real
// redis-server holding the tokens, and audit events published to its events stream.
// A recorder behind the guard notes each call that gets through and answers it with
// Unimplemented "reached", except TokenService and health, which run for real.
type guardEnv struct {
	srv     *grpc.Server
	addr    string
	ca      *testCA
	rdb     *redis.Client
	events  string
	policy  *auth.Policy
	secrets map[auth.Role]string // a token's secret per role

	mu      sync.Mutex     // guards reached
	reached map[string]int // calls that got past the guard, by method
}

const reachedMsg = "reached the handler"

func newGuardEnv(t *testing.T, maxStreams int, clientAuth tls.ClientAuthType) *guardEnv {
	t.Helper()
	rs := redistest.New(t)
	e := &guardEnv{ca: newTestCA(t, "cluster CA"), rdb: redis.NewClient(&redis.Options{Addr: rs.Addr}), reached: map[string]int{}}
	t.Cleanup(func() { e.rdb.Close() })
	st := store.New(store.Config{Client: e.rdb, Namespace: "t"})
	authn := auth.NewAuthenticator(auth.Config{Enforce: true, Tokens: st})
	admin := &auth.TokenAdmin{Store: st, Auth: authn}
	e.secrets = map[auth.Role]string{}
	for _, r := range []auth.Role{auth.RoleAdmin, auth.RoleOperator, auth.RoleViewer} {
		_, secret, err := admin.Create(t.Context(), "the-"+string(r), string(r), 0)
		if err != nil {
			t.Fatal(err)
		}
		e.secrets[r] = secret
	}
	pub := publish.New(publish.Config{Client: e.rdb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = pub.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	names := telemetry.StreamNames("")
	e.events = names.Events
	var err error
	if e.policy, err = auth.NewPolicy(auth.PolicyConfig{}); err != nil {
		t.Fatal(err)
	}
	g := &Guard{Auth: authn, Policy: e.policy, Streams: auth.NewStreamLimiter(maxStreams),
		Audit: telemetry.NewEvents(pub, names).For("api").Emit}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{e.ca.issue(t, "server", "", true)},
		ClientCAs: e.ca.pool, ClientAuth: clientAuth, MinVersion: tls.VersionTLS13}
	opts := append(Interceptors(nil, nil), g.ServerOptions()...)
	opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg)), grpc.ForceServerCodecV2(Codec()),
		grpc.ChainUnaryInterceptor(e.recordUnary), grpc.ChainStreamInterceptor(e.recordStream))
	e.srv = grpc.NewServer(opts...)
	registerAll(e.srv, admin)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e.addr = ln.Addr().String()
	go func() { _ = e.srv.Serve(ln) }()
	t.Cleanup(e.srv.Stop)
	return e
}

// registerAll registers every service as app does; only TokenService is wired for real.
func registerAll(s *grpc.Server, admin *auth.TokenAdmin) {
	edgeplanev1.RegisterRoutingServiceServer(s, &Routing{})
	edgeplanev1.RegisterFleetServiceServer(s, &Fleet{})
	edgeplanev1.RegisterAgentServiceServer(s, &Fleet{})
	edgeplanev1.RegisterTelemetryServiceServer(s, &Telemetry{})
	edgeplanev1.RegisterPortServiceServer(s, &Ports{})
	edgeplanev1.RegisterDockerServiceServer(s, &Docker{})
	edgeplanev1.RegisterCertificateServiceServer(s, &Certificates{})
	edgeplanev1.RegisterTokenServiceServer(s, &Tokens{Admin: admin})
	healthpb.RegisterHealthServer(s, health.NewServer())
	reflection.Register(s)
}

func (e *guardEnv) note(method string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.reached[method]++
	return strings.HasPrefix(method, "/edgeplane.v1.TokenService/") || strings.HasPrefix(method, "/grpc.")
}

func (e *guardEnv) reachedCount(method string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.reached[method]
}

func (e *guardEnv) recordUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if e.note(info.FullMethod) {
		return h(ctx, req)
	}
	return nil, status.Error(codes.Unimplemented, reachedMsg)
}

// recordStream holds a stream open until the client leaves when it asks with x-hold.
func (e *guardEnv) recordStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	if e.note(info.FullMethod) {
		return h(srv, ss)
	}
	if md, _ := metadata.FromIncomingContext(ss.Context()); len(md.Get("x-hold")) > 0 {
		_ = ss.SendHeader(metadata.Pairs("x-held", "1"))
		<-ss.Context().Done()
	}
	return status.Error(codes.Unimplemented, reachedMsg)
}

// dial connects over TLS trusting the cluster CA, presenting certs if given.
func (e *guardEnv) dial(t *testing.T, certs ...tls.Certificate) *grpc.ClientConn {
	t.Helper()
	cfg := &tls.Config{RootCAs: e.ca.pool, MinVersion: tls.VersionTLS13}
	if len(certs) > 0 { // sent even when the server asks for another CA's certificates
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
	}
	conn, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// call invokes method with an empty request (streams: one empty message, then the first
// reply) and returns its status.
func call(ctx context.Context, conn *grpc.ClientConn, method string, stream bool) error {
	if !stream {
		return conn.Invoke(ctx, method, &emptypb.Empty{}, &emptypb.Empty{})
	}
	s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, method)
	if err != nil {
		return err
	}
	_ = s.SendMsg(&emptypb.Empty{})
	_ = s.CloseSend()
	return s.RecvMsg(&emptypb.Empty{})
}

func withToken(ctx context.Context, secret string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+secret)
}
