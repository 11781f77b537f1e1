package fanout

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// delivery is what a session sent its agent and what the agent answered.
//
// Hot: per agent and per change, the session's goroutine wakes once (a kick: the change, the
// spacing timer, or an answer while a change is due) and sends once; the answer is handled
// on the goroutine that received it, which wakes the session only if a change is due.
type delivery struct {
	mu       sync.Mutex // guards the fields below
	waiting  bool       // an update is in flight (its revision may be 0: an empty store's snapshot)
	holding  bool       // a timer kicks the session once the spacing has passed
	inflight int64      // revision sent and not yet answered, while waiting
	// applied is the revision the agent serves; it is valid in agentEpoch, the state's epoch
	// when the agent got it (see state.Update).
	applied, agentEpoch int64
	// attempted is the last revision sent (in attemptedEpoch), never sent again.
	attempted, attemptedEpoch int64
	lastSend                  time.Time
}

// dueLocked reports whether the state at rev, epoch has something not yet attempted.
func (d *delivery) dueLocked(rev, epoch int64) bool {
	return !d.waiting && !d.holding && (rev > d.attempted || epoch != d.attemptedEpoch)
}

// loop sends updates until the session fails or ctx ends; the session's receiver handles the
// answers (see handle). rejected is a revision the agent NACKed before this stream, not to
// be sent again.
func (f *Fanout) loop(ctx context.Context, s *session, applied, rejected int64, stream Stream) error {
	if err := f.sendSettings(ctx, s, stream); err != nil {
		return err
	}
	_, rev, epoch := f.cfg.State.Watch()
	d := &s.d
	d.mu.Lock()
	d.applied, d.agentEpoch = applied, epoch
	d.attempted, d.attemptedEpoch = applied, epoch
	if applied > rev {
		d.attempted = -1 // the agent is ahead of the store (a wiped Redis): send a snapshot
	} else if rejected <= rev {
		d.attempted = max(d.attempted, rejected)
	}
	var settings *edgeplanev1.ConfigUpdate
	if u := f.cfg.State.Settings(); u != nil && applied == rev && u.GetRevision() == rev {
		// The agent is current, but still needs the telemetry settings.
		settings, d.inflight, d.waiting = u, rev, true
	}
	d.mu.Unlock()
	if settings != nil {
		if err := s.send(f, stream, settings); err != nil {
			return fmt.Errorf("sending settings: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, s.kickSelf)
	defer stop()
	s.sendMu.Lock()
	s.stream, s.ready = stream, true // the broadcaster may send now
	s.sendMu.Unlock()
	s.kickSelf()
	for range s.kick {
		if err := s.failure(); err != nil {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := f.pump(s, stream); err != nil {
			return err
		}
	}
	return nil
}

// pump sends the agent what moves it to the current revision, unless an update is in flight,
// the spacing holds it back (a timer then kicks the session), or nothing is due.
func (f *Fanout) pump(s *session, stream Stream) error {
	_, rev, epoch := f.cfg.State.Watch()
	d := &s.d
	d.mu.Lock()
	if !d.dueLocked(rev, epoch) {
		d.mu.Unlock()
		return nil
	}
	if wait := f.spacing() - clock.Since(d.lastSend); wait > 0 {
		d.holding = true // changes arriving meanwhile join this update
		d.mu.Unlock()
		time.AfterFunc(wait, func() {
			d.mu.Lock()
			d.holding = false
			d.mu.Unlock()
			s.kickSelf()
		})
		return nil
	}
	d.attempted, d.attemptedEpoch, d.lastSend = rev, epoch, clock.Now()
	u := f.cfg.State.Update(d.applied, d.agentEpoch)
	if u == nil {
		d.mu.Unlock()
		return nil
	}
	d.inflight, d.attempted, d.waiting = u.GetRevision(), u.GetRevision(), true
	agentEpoch := d.agentEpoch
	d.mu.Unlock()
	err := s.send(f, stream, u)
	if errors.Is(err, errLargeDelta) {
		u = f.cfg.State.Update(-1, agentEpoch) // no agent serves -1: a snapshot, in chunks
		d.mu.Lock()
		d.inflight, d.attempted = u.GetRevision(), u.GetRevision()
		d.mu.Unlock()
		err = s.send(f, stream, u)
	}
	if err != nil {
		return fmt.Errorf("sending revision %d: %w", u.GetRevision(), err)
	}
	return nil
}

// directMax bounds an update the broadcaster sends itself. One message this small, to an
// agent with nothing else in flight, fits the stream's write quota (64 KiB in grpc-go) and
// its flow-control window, so the send cannot wait on a slow agent.
const directMax = 16 << 10

// pass is one walk of the broadcaster over the sessions: the state it sends (read once),
// and the update and its encoding for the revision most agents serve, computed once.
type pass struct {
	rev, epoch int64
	now        time.Time
	seen       int // sessions since now was read

	cached              bool
	applied, agentEpoch int64 // what u moves an agent from
	u                   *edgeplanev1.ConfigUpdate
	msg                 *Encoded // nil: u is not one small message
}

// newPass reads the state for a walk over the sessions.
func (f *Fanout) newPass() *pass {
	_, rev, epoch := f.cfg.State.Watch()
	return &pass{rev: rev, epoch: epoch, now: clock.Now()}
}

// clock returns the time, read again every 256 sessions: a walk over a large fleet takes
// long enough for the spacing to notice.
func (p *pass) clock() time.Time {
	if p.seen++; p.seen%256 == 0 {
		p.now = clock.Now()
	}
	return p.now
}

// passUpdate returns the update moving an agent at applied (in agentEpoch) to the pass's state,
// and its encoding if it is one message small enough to send directly.
func (f *Fanout) passUpdate(p *pass, applied, agentEpoch int64) (*edgeplanev1.ConfigUpdate, *Encoded) {
	if p.cached && p.applied == applied && p.agentEpoch == agentEpoch {
		return p.u, p.msg
	}
	u := f.cfg.State.Update(applied, agentEpoch)
	var msg *Encoded
	if u != nil {
		if msgs, err := f.encode(u); err == nil && len(msgs) == 1 && len(msgs[0].b) <= directMax {
			msg = msgs[0]
		}
	}
	p.cached, p.applied, p.agentEpoch, p.u, p.msg = true, applied, agentEpoch, u, msg
	return u, msg
}

// sendDirect sends s its due update from the broadcaster's goroutine, sparing the session's
// loop a wake-up, when that cannot block: the loop is running, nothing else is sending to s,
// no spacing holds it back and the update is one small message. It reports whether s is
// handled; if not, the caller kicks the session's loop. Hot: once per agent per change.
func (f *Fanout) sendDirect(s *session, p *pass) bool {
	if !s.sendMu.TryLock() {
		return false
	}
	defer s.sendMu.Unlock()
	if !s.ready {
		return false
	}
	now := p.clock()
	d := &s.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.dueLocked(p.rev, p.epoch) {
		return true // in flight or held: the answer or the timer kicks the loop
	}
	if now.Sub(d.lastSend) < f.spacing() {
		return false
	}
	u, msg := f.passUpdate(p, d.applied, d.agentEpoch)
	if u == nil {
		d.attempted, d.attemptedEpoch, d.lastSend = p.rev, p.epoch, now
		return true
	}
	if msg == nil {
		return false
	}
	d.attempted, d.attemptedEpoch, d.lastSend = u.GetRevision(), p.epoch, now
	d.inflight, d.waiting = u.GetRevision(), true
	if err := s.stream.SendMsg(msg); err != nil {
		s.fail(fmt.Errorf("sending revision %d: %w", u.GetRevision(), err))
	}
	return true
}

// handle handles one message of the agent after its Hello, on the session's receiving
// goroutine. renewed says whether the agent already renewed its certificate on this stream.
func (f *Fanout) handle(ctx context.Context, s *session, m *edgeplanev1.AgentMessage, stream Stream, renewed *bool) error {
	if r := m.GetRenew(); r != nil {
		if *renewed {
			return fmt.Errorf("%w: one certificate renewal per stream", model.ErrDenied)
		}
		*renewed = true
		return f.renew(ctx, s, r, stream)
	}
	if r := m.GetTargetHealth(); r != nil {
		return f.targetHealth(ctx, s, r)
	}
	if a := m.GetAck(); a != nil {
		f.ack(ctx, s, a.GetRevision(), a.GetConfigHash())
		return nil
	}
	if n := m.GetNack(); n != nil {
		f.nack(ctx, s, n)
		return nil
	}
	return fmt.Errorf("agent sent %T after Hello", m.GetKind())
}

// ack handles an Ack of rev (hash: the agent's config hash). Hot: once per agent per change.
func (f *Fanout) ack(ctx context.Context, s *session, rev int64, hash string) {
	s.acked(rev, hash)
	f.rec.mark(s)
	if inflight := f.answered(s, rev, true); rev != inflight {
		f.log.WarnContext(ctx, "agent acked a revision that was not in flight", "node_id", s.node, "revision", rev, "in_flight", inflight)
	}
}

// answered ends the update in flight (answered with rev, which the agent now serves if ok)
// and wakes the session if a change came while the agent was applying. It returns the
// revision that was in flight.
func (f *Fanout) answered(s *session, rev int64, ok bool) (inflight int64) {
	d := &s.d
	d.mu.Lock()
	inflight = d.inflight
	if ok {
		d.applied, d.agentEpoch = rev, d.attemptedEpoch
	}
	d.waiting = false
	// The state is read under d.mu: a change the broadcaster skipped because the update was
	// in flight (it checks under d.mu too) is seen here.
	_, cur, epoch := f.cfg.State.Watch()
	due := d.dueLocked(cur, epoch)
	d.mu.Unlock()
	if due {
		s.kickSelf()
	}
	return inflight
}

// nack records a Nack: the agent keeps serving the revision it had.
func (f *Fanout) nack(ctx context.Context, s *session, n *edgeplanev1.Nack) {
	n.Error = clip(n.GetError(), maxNackError)
	f.log.WarnContext(ctx, "agent rejected config", "node_id", s.node, "revision", n.GetRevision(), "error", n.GetError())
	f.cfg.Events.Emit(ctx, &event.ConfigRejected{NodeID: s.node, Revision: n.GetRevision(), Error: n.GetError()})
	s.edit(func(st *edgeplanev1.Agent) {
		st.LastError, st.RejectedRevision = n.GetError(), n.GetRevision()
	})
	f.rec.mark(s)
	f.answered(s, 0, false)
}

// sendSettings sends the agent's own settings, if it has any, before any update.
func (f *Fanout) sendSettings(ctx context.Context, s *session, stream Stream) error {
	if f.cfg.Settings == nil || s.id == nil {
		return nil
	}
	set := f.cfg.Settings(ctx, s.node)
	if set == nil {
		return nil
	}
	if err := s.sendMessage(stream, &edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Settings{Settings: set}}); err != nil {
		return fmt.Errorf("sending agent settings: %w", err)
	}
	return nil
}

// renew answers a certificate renewal of an agent authenticated by its certificate. A
// refused request ends the stream; the agent keeps its current certificate meanwhile.
func (f *Fanout) renew(ctx context.Context, s *session, r *edgeplanev1.RenewCertificate, stream Stream) error {
	if s.id == nil || f.cfg.Renew == nil {
		return fmt.Errorf("%w: certificate renewal needs a stream authenticated by a certificate", model.ErrDenied)
	}
	if !s.id.renewalDue(clock.Now()) {
		return fmt.Errorf("%w: certificate renewal before half its lifetime has passed", model.ErrDenied)
	}
	certPEM, caPEM, err := f.cfg.Renew(r.GetCsrPem(), s.node)
	if err != nil {
		return fmt.Errorf("renewing the certificate of %q: %w", s.node, err)
	}
	f.log.InfoContext(ctx, "agent certificate renewed", "node_id", s.node)
	return s.sendMessage(stream, &edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Certificate{
		Certificate: &edgeplanev1.IssuedCertificate{CertificatePem: certPEM, CaPem: caPEM}}})
}
