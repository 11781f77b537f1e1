package fanout

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/peer"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// session is one agent's stream on this replica.
//
// Its fields are laid out by who touches them (with 10,000 agents none is in the CPU's cache
// when it is needed, so each cache line touched costs a load from memory): the first line
// holds what the receiver touches of it for an Ack (mu, the pending ack, dirty) and what a
// status flush reads with them (status, static), the next
// two what the receiver's answered and the broadcaster's send touch (d, then sendMu, stream,
// ready), the rest what is rarely touched.
type session struct {
	mu         sync.Mutex // guards status, static and the pending ack
	gone       bool       // released (guarded by the recorder's mu)
	ackPending bool
	dirty      atomic.Bool // queued for the recorder's next flush
	// An Ack not yet applied to status (acked keeps it here, so an Ack does not load the
	// status; settleLocked applies it before anything reads or changes the status).
	ackRev  int64
	ackHash string
	status  *edgeplanev1.Agent
	static  string // the fields of status appendDynamic does not write, encoded; "": encode again

	d      delivery
	sendMu sync.Mutex // serialises sends on the stream (updates, settings, certificates); guards stream, ready
	stream Stream     // set when the loop starts
	ready  bool       // the broadcaster may send on stream (sendDirect): the loop runs

	node   string
	token  string
	id     *Identity // nil without TLS
	cancel context.CancelCauseFunc
	kick   chan struct{} // wakes the session's loop; capacity 1
	err    atomic.Pointer[error]
	recv   *receiver // reads the agent's messages
}

// kickSelf wakes the session's loop, unless a wake-up is already pending. It never blocks.
func (s *session) kickSelf() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// fail ends the session with err (the first one wins).
func (s *session) fail(err error) {
	s.err.CompareAndSwap(nil, &err)
	s.kickSelf()
}

// failure is the error the session failed with, nil while it runs.
func (s *session) failure() error {
	if p := s.err.Load(); p != nil {
		return *p
	}
	return nil
}

// send sends u: one message, or every chunk of a large snapshot back to back (the agent
// answers once, for the whole snapshot).
func (s *session) send(f *Fanout, stream Stream, u *edgeplanev1.ConfigUpdate) error {
	msgs, err := f.encode(u)
	if err != nil {
		return err
	}
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	for _, m := range msgs {
		if err := stream.SendMsg(m); err != nil {
			return err
		}
	}
	return nil
}

// sendMessage sends one message that is not a shared update.
func (s *session) sendMessage(stream Stream, m *edgeplanev1.ControlMessage) error {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	return stream.SendMsg(m)
}

// appendStatus appends the status, seen at now, in wire form (see status.go). Hot: once per
// flush per changed agent.
func (s *session) appendStatus(b []byte, now *timestamppb.Timestamp) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.settleLocked()
	st.LastSeen = now // nested values are replaced, never changed in place: now may be shared
	if s.static == "" {
		static, err := appendStatic(nil, st)
		if err != nil {
			return b, err
		}
		s.static = string(static)
	}
	b = append(b, s.static...)
	return appendDynamic(b, st), nil
}

// edit changes the status under the lock.
func (s *session) edit(fn func(a *edgeplanev1.Agent)) {
	s.mu.Lock()
	fn(s.settleLocked())
	s.static = "" // fn may have changed any field
	s.mu.Unlock()
}

// acked records an Ack of rev. Hot: called for every ack of every agent, so it only notes the
// Ack on the session's first cache line; settleLocked applies it.
func (s *session) acked(rev int64, hash string) {
	s.mu.Lock()
	s.ackRev, s.ackHash, s.ackPending = rev, hash, true
	s.mu.Unlock()
}

// settleLocked applies the pending Ack, if any, to the status and returns the status. s.mu
// must be held.
func (s *session) settleLocked() *edgeplanev1.Agent {
	st := s.status
	if s.ackPending {
		st.AppliedRevision, st.ConfigHash = s.ackRev, s.ackHash
		if st.RejectedRevision <= s.ackRev {
			st.LastError = ""
		}
		s.ackPending = false
	}
	return st
}

// Stream is the server side of AgentService.Connect: grpc.ServerStream's methods that a
// session uses, so the stream gRPC made for the call can be handed over as it is, without
// the wrappers around it (see api.Fleet.Connect).
type Stream interface {
	Context() context.Context
	// SendMsg sends a *edgeplanev1.ControlMessage, or an already encoded one (see Encoded).
	SendMsg(m any) error
	// RecvMsg receives the agent's next message into m, a *receiver: the server's codec
	// (api.Codec) calls its DecodeWire with the message's bytes.
	RecvMsg(m any) error
}

// Serve runs one agent's stream until the agent leaves or ctx ends, trusting the Hello's
// node id (TLS off). See ServeAs.
func (f *Fanout) Serve(ctx context.Context, stream Stream) error { return f.ServeAs(ctx, stream, nil) }

// ServeAs runs one agent's stream until the agent leaves or ctx ends. With id (the agent's
// certificate), the stream speaks only for id.Node. It returns a *model.ValidationError for
// a bad Hello, model.ErrDenied for a Hello naming another node, a node connected with a
// certificate this one may not supersede, or a revocation, and nil when the agent closed
// the stream.
func (f *Fanout) ServeAs(ctx context.Context, stream Stream, id *Identity) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r, msgs, errc, open := receive(ctx, f, stream)
	hello, err := f.awaitHello(ctx, msgs, errc)
	if err == nil {
		err = checkHello(hello, id)
	}
	if err == nil {
		err = f.claim(ctx, id)
	}
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-f.cfg.State.Ready():
	}
	s, err := f.open(hello, f.previous(ctx, hello), id, cancel, connKey(ctx))
	if err != nil {
		return err
	}
	s.recv = r
	defer f.close(s)
	f.announce(ctx, s)
	f.log.InfoContext(ctx, "agent connected", "node_id", s.node, "revision", hello.GetRevision(), "version", hello.GetVersion())
	f.cfg.Events.Emit(ctx, &event.AgentConnected{NodeID: s.node, Replica: f.cfg.ReplicaID,
		Revision: hello.GetRevision(), Version: hello.GetVersion()})
	open <- s
	err = f.loop(ctx, s, hello.GetRevision(), s.status.GetRejectedRevision(), stream)
	f.log.InfoContext(ctx, "agent disconnected", "node_id", s.node, "reason", err)
	f.cfg.Events.Emit(ctx, &event.AgentDisconnected{NodeID: s.node, Replica: f.cfg.ReplicaID, Reason: errText(err)})
	if cause := context.Cause(ctx); errors.Is(cause, model.ErrDenied) {
		return cause
	}
	if errors.Is(err, io.EOF) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func (f *Fanout) awaitHello(ctx context.Context, msgs <-chan *edgeplanev1.AgentMessage, errc <-chan error) (*edgeplanev1.Hello, error) {
	bad := func(desc string) error {
		return &model.ValidationError{Violations: []model.FieldViolation{{Field: "hello", Description: desc}}}
	}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case err := <-errc:
		return nil, err
	case <-time.After(f.cfg.HelloTimeout):
		return nil, bad(fmt.Sprintf("no Hello within %s", f.cfg.HelloTimeout))
	case m := <-msgs:
		h := m.GetHello()
		switch {
		case h == nil:
			return nil, bad("the first message must be a Hello")
		}
		return h, nil
	}
}

// previous returns what the store remembers of the agent's last NACK, if it still serves the
// revision it had then: a reconnect must not resend the revision it rejected.
func (f *Fanout) previous(ctx context.Context, h *edgeplanev1.Hello) *edgeplanev1.Agent {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	prev, err := f.cfg.Store.GetAgent(ctx, h.GetNodeId())
	if err != nil || prev.GetAppliedRevision() != h.GetRevision() || prev.GetRejectedRevision() <= h.GetRevision() {
		return nil
	}
	return prev
}

// connKey names the connection a stream came on: its peer's address ("" when unknown).
func connKey(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}

func (f *Fanout) open(h *edgeplanev1.Hello, prev *edgeplanev1.Agent, id *Identity, cancel context.CancelCauseFunc, conn string) (*session, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	now := timestamppb.New(clock.Now())
	s := &session{
		node:   h.GetNodeId(),
		token:  f.cfg.ReplicaID + "/" + hex.EncodeToString(b[:]),
		id:     id,
		cancel: cancel,
		kick:   make(chan struct{}, 1),
		status: &edgeplanev1.Agent{
			NodeId: h.GetNodeId(), Labels: h.GetLabels(), Version: h.GetVersion(), Connected: true,
			AppliedRevision: h.GetRevision(), ConfigHash: h.GetConfigHash(), LastSeen: now,
			Replica: f.cfg.ReplicaID, ConnectTime: now,
			LastError: prev.GetLastError(), RejectedRevision: prev.GetRejectedRevision(),
		},
	}
	if err := f.register(s, conn); err != nil {
		return nil, err
	}
	f.rec.claim(s)
	return s, nil
}

func (f *Fanout) close(s *session) {
	s.recv.end()
	s.sendMu.Lock()
	s.ready = false // nothing is sent once the handler returns
	s.sendMu.Unlock()
	f.unregister(s)
	s.edit(func(a *edgeplanev1.Agent) { a.Connected, a.TargetHealth = false, nil }) // its view of targets ends with it
	f.rec.release(s)
}

// receive reads the stream on its own goroutine, owned by the caller's ctx. The first message
// (the Hello) or error arrives on the channels; every later one is handled on the receiving
// goroutine itself (no hand-off per message) by the receiver, once the caller has sent the
// opened session on open.
func receive(ctx context.Context, f *Fanout, stream Stream) (*receiver, <-chan *edgeplanev1.AgentMessage, <-chan error, chan<- *session) {
	r := &receiver{f: f}
	msgs, errc := make(chan *edgeplanev1.AgentMessage), make(chan error, 1)
	open := make(chan *session, 1)
	go func() {
		if err := stream.RecvMsg(r); err != nil {
			errc <- err
			return
		}
		select {
		case msgs <- r.message(): // a message of its own, kept by the session
		case <-ctx.Done():
			return
		}
		select {
		case r.s = <-open:
		case <-ctx.Done():
			return
		}
		for r.handle(ctx, stream, stream.RecvMsg(r)) {
		}
	}()
	return r, msgs, errc, open
}

// errText is err's message, "" for nil.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
