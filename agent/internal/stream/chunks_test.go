package stream_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"

	"github.com/edgeplane/edgeplane/agent/internal/stream"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
)

// wait bounds every wait on a condition; reaching it fails the test.
const wait = 10 * time.Second

// server is a scripted control plane: every stream the agent opens (after its Hello) is
// handed to the test as a conn, which sends what the test says and ends when told.
type server struct {
	edgeplanev1.UnimplementedAgentServiceServer
	conns chan *conn
}

type conn struct {
	st  edgeplanev1.AgentService_ConnectServer
	end chan error
}

func (s *server) Connect(st edgeplanev1.AgentService_ConnectServer) error {
	if _, err := st.Recv(); err != nil { // Hello
		return err
	}
	c := &conn{st: st, end: make(chan error, 1)}
	select {
	case s.conns <- c:
	case <-st.Context().Done():
		return st.Context().Err()
	}
	select {
	case err := <-c.end:
		return err
	case <-st.Context().Done():
		return st.Context().Err()
	}
}

// applier records what it applies.
type applier struct {
	mu      sync.Mutex // guards applied, rev
	applied []*edgeplanev1.ConfigUpdate
	rev     int64
}

func (a *applier) Serving() (int64, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.rev, fmt.Sprint(a.rev)
}

func (a *applier) Apply(_ context.Context, u *edgeplanev1.ConfigUpdate) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.applied = append(a.applied, u)
	a.rev = u.GetRevision()
	return fmt.Sprint(a.rev), nil
}

func (a *applier) updates() []*edgeplanev1.ConfigUpdate {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.applied)
}

// start runs a Client against a scripted server and returns the server and the applier.
func start(t *testing.T, opts ...func(*stream.Config)) (*server, *applier) {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	srv := &server{conns: make(chan *conn)}
	g := grpc.NewServer()
	edgeplanev1.RegisterAgentServiceServer(g, srv)
	go func() { _ = g.Serve(lis) }()
	cc, err := grpc.NewClient("passthrough:///bufnet", grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }))
	if err != nil {
		t.Fatal(err)
	}
	app := &applier{}
	cfg := stream.Config{Conn: cc, Applier: app, NodeID: "n1", Backoff: backoff.Config{Min: time.Millisecond, Max: 5 * time.Millisecond}}
	for _, o := range opts {
		o(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = stream.New(cfg).Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; g.Stop(); cc.Close() })
	return srv, app
}

// accept waits for the agent's next stream.
func (s *server) accept(t *testing.T) *conn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(wait):
		t.Fatal("the agent did not open a stream")
		return nil
	}
}

func (c *conn) send(t *testing.T, us ...*edgeplanev1.ConfigUpdate) {
	t.Helper()
	for _, u := range us {
		if err := c.st.Send(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Update{Update: u}}); err != nil {
			t.Fatal(err)
		}
	}
}

// answer returns the agent's next Ack or Nack (health reports are skipped).
func (c *conn) answer(t *testing.T) *edgeplanev1.AgentMessage {
	t.Helper()
	type got struct {
		m   *edgeplanev1.AgentMessage
		err error
	}
	ch := make(chan got, 1)
	go func() {
		m, err := c.st.Recv()
		ch <- got{m, err}
	}()
	select {
	case g := <-ch:
		if g.err != nil {
			t.Fatalf("receiving the agent's answer: %v", g.err)
		}
		return g.m
	case <-time.After(wait):
		t.Fatal("the agent did not answer")
		return nil
	}
}

func (c *conn) wantAck(t *testing.T, rev int64) {
	t.Helper()
	if m := c.answer(t); m.GetAck().GetRevision() != rev || m.GetAck() == nil {
		t.Fatalf("got answer %v, want Ack of revision %d", m, rev)
	}
}

func (c *conn) wantNack(t *testing.T, rev int64, contains string) {
	t.Helper()
	m := c.answer(t)
	if m.GetNack() == nil || m.GetNack().GetRevision() != rev || !strings.Contains(m.GetNack().GetError(), contains) {
		t.Fatalf("got answer %v, want Nack of revision %d saying %q", m, rev, contains)
	}
}

// chunked cuts routes r-0 ... r-(n-1) of rev into count chunks, as the control plane does.
func chunked(rev int64, n int, count uint32) []*edgeplanev1.ConfigUpdate {
	var out []*edgeplanev1.ConfigUpdate
	for i := range count {
		out = append(out, &edgeplanev1.ConfigUpdate{Revision: rev, BaseRevision: -1, ChunkIndex: i, ChunkCount: count})
	}
	out[0].Telemetry = &edgeplanev1.TelemetrySettings{RequestStream: "s"}
	out[0].RequestBlockEncoding = "s2"
	for i := range n {
		c := out[i*int(count)/n]
		c.Routes = append(c.Routes, &edgeplanev1.Route{Name: fmt.Sprintf("r-%d", i)})
	}
	return out
}

func whole(rev int64, routes ...string) *edgeplanev1.ConfigUpdate {
	u := &edgeplanev1.ConfigUpdate{Revision: rev, Snapshot: true}
	for _, r := range routes {
		u.Routes = append(u.Routes, &edgeplanev1.Route{Name: r})
	}
	return u
}

func names(u *edgeplanev1.ConfigUpdate) []string {
	var out []string
	for _, r := range u.GetRoutes() {
		out = append(out, r.GetName())
	}
	return out
}

// wantApplied checks the revisions applied so far, in order.
func wantApplied(t *testing.T, app *applier, revs ...int64) []*edgeplanev1.ConfigUpdate {
	t.Helper()
	got := app.updates()
	var gotRevs []int64
	for _, u := range got {
		gotRevs = append(gotRevs, u.GetRevision())
	}
	if !slices.Equal(gotRevs, revs) {
		t.Fatalf("applied revisions %v, want %v", gotRevs, revs)
	}
	return got
}

func TestClient_JoinsChunksIntoOneSnapshot(t *testing.T) {
	srv, app := start(t)
	c := srv.accept(t)
	c.send(t, chunked(5, 10, 3)...)
	c.wantAck(t, 5)
	u := wantApplied(t, app, 5)[0]
	want := chunked(5, 10, 1)[0]
	if !u.GetSnapshot() || u.GetChunkCount() != 0 || !slices.Equal(names(u), names(want)) || u.GetTelemetry().GetRequestStream() != "s" ||
		u.GetRequestBlockEncoding() != "s2" {
		t.Fatalf("applied snapshot=%v chunk_count=%d routes=%v telemetry=%v, want a snapshot of %v with telemetry",
			u.GetSnapshot(), u.GetChunkCount(), names(u), u.GetTelemetry(), names(want))
	}
}

func TestClient_BrokenStreamAppliesNoPartialSnapshot(t *testing.T) {
	srv, app := start(t)
	c := srv.accept(t)
	chunks := chunked(5, 10, 3)
	c.send(t, chunks[:2]...)
	c.end <- errors.New("stream broken mid-snapshot")
	c = srv.accept(t)
	c.send(t, chunks[2]) // the rest of the old sequence: no start on this stream
	c.send(t, whole(6, "x"))
	c.wantAck(t, 6)
	wantApplied(t, app, 6)
}

func TestClient_DropsChunksOfAnotherRevision(t *testing.T) {
	srv, app := start(t)
	c := srv.accept(t)
	old, cur := chunked(5, 10, 3), chunked(6, 10, 2)
	c.send(t, old[0], old[1]) // abandoned: a newer snapshot starts
	c.send(t, cur[0], old[2], cur[1])
	c.wantAck(t, 6)
	if u := wantApplied(t, app, 6)[0]; len(u.GetRoutes()) != 10 {
		t.Fatalf("applied %d routes, want 10", len(u.GetRoutes()))
	}
}

func TestClient_RefusesChunksPastBounds(t *testing.T) {
	tests := []struct {
		name   string
		opt    func(*stream.Config)
		chunks []*edgeplanev1.ConfigUpdate
		nack   string
	}{
		{"too many chunks", func(c *stream.Config) { c.MaxChunks = 2 }, chunked(5, 10, 3), "more than the 2"},
		{"too many bytes", func(c *stream.Config) { c.MaxSnapshotBytes = 50 }, chunked(5, 10, 3), "over the 50 bytes"},
		{"out of order", nil, func() []*edgeplanev1.ConfigUpdate {
			c := chunked(5, 10, 3)
			return []*edgeplanev1.ConfigUpdate{c[0], c[2], c[1]}
		}(), "got chunk 2 of 3, want chunk 1 of 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var opts []func(*stream.Config)
			if tt.opt != nil {
				opts = append(opts, tt.opt)
			}
			srv, app := start(t, opts...)
			c := srv.accept(t)
			c.send(t, tt.chunks...)
			c.wantNack(t, 5, tt.nack)
			c.send(t, whole(6, "x")) // the rest of revision 5 was dropped: one answer, then this
			c.wantAck(t, 6)
			wantApplied(t, app, 6)
		})
	}
}
