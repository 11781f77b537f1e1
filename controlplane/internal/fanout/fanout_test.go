package fanout_test

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// wait bounds every wait on a condition; reaching it fails the test.
const wait = 10 * time.Second

// rig is a Fanout over a real redis-server, with the state and store it reads.
type rig struct {
	fan   *fanout.Fanout
	state *state.State
	store *store.Store
}

func newRig(t *testing.T, opts ...func(*fanout.Config)) *rig {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr})
	st := store.New(store.Config{Client: rdb})
	s := state.New(state.Config{Store: st, Tail: tail})
	// No update spacing: the tests drive the orderings themselves.
	cfg := fanout.Config{State: s, Store: st, ReplicaID: "r1", MinUpdateInterval: -1}
	for _, o := range opts {
		o(&cfg)
	}
	f := fanout.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = s.Run(ctx); done <- struct{}{} }()
	go func() { _ = f.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); tail.Close(); <-done; <-done; rdb.Close() })
	<-s.Ready()
	return &rig{fan: f, state: s, store: st}
}

// put commits a route and waits until the state has it; it returns the new revision.
func (r *rig) put(t *testing.T, name string) int64 {
	t.Helper()
	payload, err := r.store.Encode(store.KindRoute, &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}})
	if err != nil {
		t.Fatal(err)
	}
	rev, err := r.store.Commit(t.Context(), store.Op{Kind: store.KindRoute, Name: name, Payload: payload, Fresh: r.state.Revision() == 0})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := r.state.WaitFor(ctx, rev); err != nil {
		t.Fatalf("state did not reach revision %d: %v", rev, err)
	}
	return rev
}

// agent is the far end of a fake Connect stream: what Serve sends arrives on sent, what the
// test puts on recv is what Serve receives. It stands in for the gRPC stream only; the
// Fanout, state and store under it are the real ones.
type agent struct {
	ctx  context.Context
	sent chan *edgeplanev1.ControlMessage
	recv chan *edgeplanev1.AgentMessage
	done chan error // Serve's result
}

var _ fanout.Stream = (*agent)(nil)

func (a *agent) Context() context.Context { return a.ctx }

func (a *agent) Send(m *edgeplanev1.ControlMessage) error { return a.SendMsg(m) }

func (a *agent) SendMsg(m any) error {
	var msg edgeplanev1.ControlMessage
	switch m := m.(type) {
	case *fanout.Encoded:
		if err := proto.Unmarshal(m.PreEncoded(), &msg); err != nil {
			return err
		}
	case *edgeplanev1.ControlMessage:
		msg = *proto.CloneOf(m)
	default:
		return errors.New("unexpected message type")
	}
	select {
	case a.sent <- &msg:
		return nil
	case <-a.ctx.Done():
		return a.ctx.Err()
	}
}

// RecvMsg hands the next message to m as the server's codec does: in wire form.
func (a *agent) RecvMsg(m any) error {
	select {
	case msg, ok := <-a.recv:
		if !ok {
			return io.EOF
		}
		b, err := proto.Marshal(msg)
		if err != nil {
			return err
		}
		return m.(interface{ DecodeWire([]byte) error }).DecodeWire(b)
	case <-a.ctx.Done():
		return a.ctx.Err()
	}
}

// connect starts Serve for an agent that says hello.
func (r *rig) connect(t *testing.T, hello *edgeplanev1.Hello) *agent {
	t.Helper()
	return r.open(t, &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: hello}})
}

// open starts Serve for an agent whose first message is first.
func (r *rig) open(t *testing.T, first *edgeplanev1.AgentMessage) *agent {
	t.Helper()
	return r.openAs(t, first, nil)
}

// openAs is open for an agent authenticated by a certificate (id).
func (r *rig) openAs(t *testing.T, first *edgeplanev1.AgentMessage, id *fanout.Identity) *agent {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	a := &agent{ctx: ctx, sent: make(chan *edgeplanev1.ControlMessage, 16), recv: make(chan *edgeplanev1.AgentMessage, 16), done: make(chan error, 1)}
	go func() { a.done <- r.fan.ServeAs(ctx, a, id) }()
	t.Cleanup(func() {
		cancel()
		<-a.done
	})
	a.recv <- first
	return a
}

// next returns the next update sent to the agent.
func (a *agent) next(t *testing.T) *edgeplanev1.ConfigUpdate {
	t.Helper()
	select {
	case m := <-a.sent:
		return m.GetUpdate()
	case err := <-a.done:
		t.Fatalf("stream ended before an update: %v", err)
	case <-time.After(wait):
		t.Fatal("no update within the wait")
	}
	return nil
}

func (a *agent) ack(rev int64) {
	a.recv <- &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: rev}}}
}

func (a *agent) nack(rev int64, why string) {
	a.recv <- &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Nack{Nack: &edgeplanev1.Nack{Revision: rev, Error: why}}}
}

// ended waits for Serve to return and gives its error.
func (a *agent) ended(t *testing.T) error {
	t.Helper()
	select {
	case err := <-a.done:
		a.done <- err // for the cleanup
		return err
	case <-time.After(wait):
		t.Fatal("the stream did not end")
		return nil
	}
}

// status waits until the store's status of node satisfies ok, and returns it.
func (r *rig) status(t *testing.T, node string, ok func(*edgeplanev1.Agent) bool) *edgeplanev1.Agent {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		a, err := r.store.GetAgent(t.Context(), node)
		if err == nil && ok(a) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("status of %s never reached the wanted state; last: %v (err %v)", node, a, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func routeNames(u *edgeplanev1.ConfigUpdate) []string {
	var n []string
	for _, r := range u.GetRoutes() {
		n = append(n, r.GetName())
	}
	return n
}

// want checks an update's revision, kind, base and routes.
func want(t *testing.T, u *edgeplanev1.ConfigUpdate, rev int64, snapshot bool, base int64, routes ...string) {
	t.Helper()
	got := routeNames(u)
	if u.GetRevision() != rev || u.GetSnapshot() != snapshot || (!snapshot && u.GetBaseRevision() != base) || len(got) != len(routes) {
		t.Fatalf("got update rev=%d snapshot=%v base=%d routes=%v, want rev=%d snapshot=%v base=%d routes=%v",
			u.GetRevision(), u.GetSnapshot(), u.GetBaseRevision(), got, rev, snapshot, base, routes)
	}
	for i := range routes {
		if got[i] != routes[i] {
			t.Fatalf("got routes %v, want %v", got, routes)
		}
	}
}
