package fanout

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// loop sends updates and handles answers. applied is the revision the agent serves; it is
// valid in agentEpoch, the state's epoch when the agent got it (see state.Update). rejected
// is a revision the agent NACKed before this stream, not to be sent again.
func (f *Fanout) loop(ctx context.Context, s *session, applied, rejected int64, stream Stream,
	msgs <-chan *edgeplanev1.AgentMessage, errc <-chan error) error {
	if err := f.sendSettings(ctx, s, stream); err != nil {
		return err
	}
	_, rev, agentEpoch := f.cfg.State.Watch()
	var inflight int64                               // revision sent and not yet answered, while waiting
	waiting := false                                 // an update is in flight (its revision may be 0: an empty store's snapshot)
	attempted, attemptedEpoch := applied, agentEpoch // last revision sent, never sent again
	if applied > rev {
		attempted = -1 // the agent is ahead of the store (a wiped Redis): send a snapshot
	} else if rejected <= rev {
		attempted = max(attempted, rejected)
	}
	var lastSend time.Time
	if u := f.cfg.State.Settings(); u != nil && applied == rev && u.GetRevision() == rev {
		// The agent is current, but still needs the telemetry settings.
		if err := f.send(stream, u); err != nil {
			return fmt.Errorf("sending settings: %w", err)
		}
		inflight, waiting = rev, true
	}
	var hold <-chan time.Time // set while waiting out the spacing between updates
	renewed := false          // the agent renewed its certificate on this stream
	for {
		changed, rev, epoch := f.cfg.State.Watch()
		due := !waiting && (rev > attempted || epoch != attemptedEpoch)
		if due && hold == nil {
			if wait := f.spacing() - clock.Since(lastSend); wait > 0 {
				hold = time.After(wait) // changes arriving meanwhile join this update
				due = false
			}
		}
		if due && hold == nil {
			attempted, attemptedEpoch, lastSend = rev, epoch, clock.Now()
			if u := f.cfg.State.Update(applied, agentEpoch); u != nil {
				err := f.send(stream, u)
				if errors.Is(err, errLargeDelta) {
					u = f.cfg.State.Update(-1, agentEpoch) // no agent serves -1: a snapshot, in chunks
					err = f.send(stream, u)
				}
				if err != nil {
					return fmt.Errorf("sending revision %d: %w", u.GetRevision(), err)
				}
				inflight, attempted, waiting = u.GetRevision(), u.GetRevision(), true
			}
		}
		if waiting || hold != nil {
			changed = nil // re-checked after the answer or the hold; saves a wake-up per change
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-errc:
			return err
		case <-changed:
		case <-hold:
			hold = nil
		case m := <-msgs:
			if r := m.GetRenew(); r != nil {
				if renewed {
					return fmt.Errorf("%w: one certificate renewal per stream", model.ErrDenied)
				}
				if err := f.renew(ctx, s, r, stream); err != nil {
					return err
				}
				renewed = true
				continue
			}
			if r := m.GetTargetHealth(); r != nil {
				if err := f.targetHealth(ctx, s, r); err != nil {
					return err
				}
				continue
			}
			if m.GetAck() == nil && m.GetNack() == nil {
				return fmt.Errorf("agent sent %T after Hello", m.GetKind())
			}
			if r, ok := f.answer(ctx, s, m, inflight); ok {
				applied, agentEpoch = r, attemptedEpoch
			}
			waiting = false
		}
	}
}

// send sends u: one message, or every chunk of a large snapshot back to back (the agent
// answers once, for the whole snapshot).
func (f *Fanout) send(stream Stream, u *edgeplanev1.ConfigUpdate) error {
	msgs, err := f.encode(u)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if err := stream.SendMsg(m); err != nil {
			return err
		}
	}
	return nil
}

// answer records an Ack or Nack and returns the revision the agent now serves, with ok false
// if that is unchanged (a Nack). An acked revision may be 0: an empty store's snapshot.
func (f *Fanout) answer(ctx context.Context, s *session, m *edgeplanev1.AgentMessage, inflight int64) (rev int64, ok bool) {
	if a := m.GetAck(); a != nil {
		if a.GetRevision() != inflight {
			f.log.WarnContext(ctx, "agent acked a revision that was not in flight", "node_id", s.node, "revision", a.GetRevision(), "in_flight", inflight)
		}
		s.edit(func(st *edgeplanev1.Agent) {
			st.AppliedRevision, st.ConfigHash = a.GetRevision(), a.GetConfigHash()
			if st.RejectedRevision <= a.GetRevision() {
				st.LastError = ""
			}
		})
		f.rec.mark(s)
		return a.GetRevision(), true
	}
	n := m.GetNack()
	n.Error = clip(n.GetError(), maxNackError)
	f.log.WarnContext(ctx, "agent rejected config", "node_id", s.node, "revision", n.GetRevision(), "error", n.GetError())
	f.cfg.Events.Emit(ctx, &event.ConfigRejected{NodeID: s.node, Revision: n.GetRevision(), Error: n.GetError()})
	s.edit(func(st *edgeplanev1.Agent) {
		st.LastError, st.RejectedRevision = n.GetError(), n.GetRevision()
	})
	f.rec.mark(s)
	return 0, false
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
	if err := stream.Send(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Settings{Settings: set}}); err != nil {
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
	return stream.Send(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Certificate{
		Certificate: &edgeplanev1.IssuedCertificate{CertificatePem: certPEM, CaPem: caPEM}}})
}
