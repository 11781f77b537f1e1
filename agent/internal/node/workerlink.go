package node

import (
	"context"
	"errors"
	"net"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// The link between an agent and its worker processes is gRPC over a Unix socket pair the
// agent makes when it starts a worker (the worker's end is its file descriptor 3). The
// service is internal to the agent binary, so it is declared here rather than in proto/:
// both ends are always the same build.
//
//	Apply(ConfigUpdate) AgentMessage          a whole update, as the agent applied it; Ack or Nack
//	Telemetry(TelemetrySettings) Empty        the control plane's latest telemetry settings
//	Health(TargetHealthReport) Empty          the agent's active health checks' results, to follow
//	Start(Empty) Empty                        begin accepting connections (after the first Apply)
//	Ping(Empty) Empty                         liveness: a worker that does not answer is replaced
//	Metrics(Empty) BytesValue                 the worker's metric families, length-delimited protobuf
const workerService = "edgeplane.agent.internal.Worker"

// maxLinkMessage bounds one message on the link: a snapshot of the largest config the agent
// serves (100,000 routes are ~60 MB) fits with room.
const maxLinkMessage = 512 << 20

// workerServer is what a worker process serves on the link.
type workerServer interface {
	apply(context.Context, *edgeplanev1.ConfigUpdate) (*edgeplanev1.AgentMessage, error)
	telemetry(context.Context, *edgeplanev1.TelemetrySettings) error
	health(context.Context, *edgeplanev1.TargetHealthReport) error
	start(context.Context) error
	ping(context.Context) error
	gather(context.Context) ([]byte, error)
}

// unary adapts one method of workerServer to a gRPC handler.
func unary[Req any, Resp any](call func(workerServer, context.Context, *Req) (*Resp, error)) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		req := new(Req)
		if err := dec(req); err != nil {
			return nil, err
		}
		return call(srv.(workerServer), ctx, req)
	}
}

var workerServiceDesc = grpc.ServiceDesc{
	ServiceName: workerService,
	HandlerType: (*workerServer)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Apply", Handler: unary(func(w workerServer, ctx context.Context, u *edgeplanev1.ConfigUpdate) (*edgeplanev1.AgentMessage, error) {
			return w.apply(ctx, u)
		})},
		{MethodName: "Telemetry", Handler: unary(func(w workerServer, ctx context.Context, ts *edgeplanev1.TelemetrySettings) (*emptypb.Empty, error) {
			return &emptypb.Empty{}, w.telemetry(ctx, ts)
		})},
		{MethodName: "Health", Handler: unary(func(w workerServer, ctx context.Context, r *edgeplanev1.TargetHealthReport) (*emptypb.Empty, error) {
			return &emptypb.Empty{}, w.health(ctx, r)
		})},
		{MethodName: "Start", Handler: unary(func(w workerServer, ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
			return &emptypb.Empty{}, w.start(ctx)
		})},
		{MethodName: "Ping", Handler: unary(func(w workerServer, ctx context.Context, _ *emptypb.Empty) (*emptypb.Empty, error) {
			return &emptypb.Empty{}, w.ping(ctx)
		})},
		{MethodName: "Metrics", Handler: unary(func(w workerServer, ctx context.Context, _ *emptypb.Empty) (*wrapperspb.BytesValue, error) {
			b, err := w.gather(ctx)
			return &wrapperspb.BytesValue{Value: b}, err
		})},
	},
}

// linkClient calls a worker over its link.
type linkClient struct{ conn *grpc.ClientConn }

func (c linkClient) apply(ctx context.Context, u *edgeplanev1.ConfigUpdate) (*edgeplanev1.AgentMessage, error) {
	out := new(edgeplanev1.AgentMessage)
	return out, c.conn.Invoke(ctx, "/"+workerService+"/Apply", u, out)
}

func (c linkClient) telemetry(ctx context.Context, ts *edgeplanev1.TelemetrySettings) error {
	return c.conn.Invoke(ctx, "/"+workerService+"/Telemetry", ts, new(emptypb.Empty))
}

func (c linkClient) health(ctx context.Context, r *edgeplanev1.TargetHealthReport) error {
	return c.conn.Invoke(ctx, "/"+workerService+"/Health", r, new(emptypb.Empty))
}

func (c linkClient) start(ctx context.Context) error {
	return c.conn.Invoke(ctx, "/"+workerService+"/Start", &emptypb.Empty{}, new(emptypb.Empty))
}

func (c linkClient) ping(ctx context.Context) error {
	return c.conn.Invoke(ctx, "/"+workerService+"/Ping", &emptypb.Empty{}, new(emptypb.Empty))
}

func (c linkClient) gather(ctx context.Context) ([]byte, error) {
	out := new(wrapperspb.BytesValue)
	if err := c.conn.Invoke(ctx, "/"+workerService+"/Metrics", &emptypb.Empty{}, out); err != nil {
		return nil, err
	}
	return out.GetValue(), nil
}

// dialLink makes a gRPC client over conn, the agent's end of a worker's socket pair. The
// connection cannot be redialled: once it breaks, calls fail and the worker is replaced.
func dialLink(conn net.Conn) (*grpc.ClientConn, error) {
	var once sync.Once
	dial := func(context.Context, string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c = conn })
		if c == nil {
			return nil, errors.New("worker link closed")
		}
		return c, nil
	}
	return grpc.NewClient("passthrough:///worker", grpc.WithContextDialer(dial),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxLinkMessage), grpc.MaxCallSendMsgSize(maxLinkMessage)))
}

// linkListener hands gRPC's server the one connection of a worker's link, then blocks until
// closed. done is closed when the link breaks (the agent that started the worker is gone).
type linkListener struct {
	conn      chan net.Conn
	closed    chan struct{}
	closeOnce sync.Once
	addr      net.Addr
	done      chan struct{}
}

func newLinkListener(c net.Conn) *linkListener {
	l := &linkListener{conn: make(chan net.Conn, 1), closed: make(chan struct{}), addr: c.LocalAddr(), done: make(chan struct{})}
	l.conn <- &watchedConn{Conn: c, done: l.done}
	return l
}

func (l *linkListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conn:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *linkListener) Close() error {
	l.closeOnce.Do(func() { close(l.closed) })
	return nil
}

func (l *linkListener) Addr() net.Addr { return l.addr }

// watchedConn closes done when a read fails: gRPC's server reads its connection all the
// time, so the end of the agent's side is seen at once.
type watchedConn struct {
	net.Conn
	done chan struct{}
	once sync.Once
}

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.done) })
	}
	return n, err
}
