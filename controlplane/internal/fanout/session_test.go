package fanout_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Each case is one ordering of hello, ACK, NACK, reconnect and new revisions; the update
// sequence the agent sees is the contract of the package doc.
func TestServe_Orderings(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, r *rig)
	}{
		{"new agent gets everything (a delta from 0 while the history covers it), then a delta per change", func(t *testing.T, r *rig) {
			r1 := r.put(t, "a")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
			want(t, a.next(t), r1, false, 0, "a")
			a.ack(r1)
			r2 := r.put(t, "b")
			want(t, a.next(t), r2, false, r1, "b")
			a.ack(r2)
			r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return s.GetAppliedRevision() == r2 && s.GetConnected() })
		}},
		{"agent already current gets nothing until the next change", func(t *testing.T, r *rig) {
			r.put(t, "a")
			r2 := r.put(t, "b")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1", Revision: r2})
			r3 := r.put(t, "c")
			// The first update is the delta to r3: nothing was sent for r2.
			want(t, a.next(t), r3, false, r2, "c")
		}},
		{"agent behind gets a delta from its revision", func(t *testing.T, r *rig) {
			r1 := r.put(t, "a")
			r.put(t, "b")
			r3 := r.put(t, "c")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1", Revision: r1})
			want(t, a.next(t), r3, false, r1, "b", "c")
		}},
		{"agent ahead of the store (wiped Redis) gets a snapshot", func(t *testing.T, r *rig) {
			r1 := r.put(t, "a")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1", Revision: r1 + 40})
			want(t, a.next(t), r1, true, 0, "a")
		}},
		{"agent ahead of an empty store (a restarted --dev store) gets an empty snapshot, then the first write", func(t *testing.T, r *rig) {
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1", Revision: 1}) // it once had revision 1
			want(t, a.next(t), 0, true, 0)
			a.ack(0)
			r1 := r.put(t, "a") // the store reuses revision 1, which the agent once had
			want(t, a.next(t), r1, false, 0, "a")
			a.ack(r1)
			r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return s.GetAppliedRevision() == r1 })
		}},
		{"changes during an unanswered update coalesce into one delta", func(t *testing.T, r *rig) {
			r1 := r.put(t, "a")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
			want(t, a.next(t), r1, false, 0, "a")
			r.put(t, "b")
			r.put(t, "c")
			r4 := r.put(t, "b")
			a.ack(r1) // only now may the next update go
			want(t, a.next(t), r4, false, r1, "b", "c")
		}},
		{"a NACKed revision is never resent; the next change is a new attempt from the old base", func(t *testing.T, r *rig) {
			a, r1, _ := r.rejectOne(t, "cannot apply bad")
			r3 := r.put(t, "c")
			want(t, a.next(t), r3, false, r1, "bad", "c")
			a.ack(r3)
			r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return s.GetAppliedRevision() == r3 && s.GetLastError() == "" })
		}},
		{"a reconnect after a NACK does not resend the rejected revision", func(t *testing.T, r *rig) {
			a, r1, _ := r.rejectOne(t, "no")
			close(a.recv) // the agent goes away
			if err := a.ended(t); err != nil {
				t.Fatalf("got %v from a stream the agent closed, want nil", err)
			}
			r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return !s.GetConnected() })
			b := r.connect(t, &edgeplanev1.Hello{NodeId: "n1", Revision: r1})
			r3 := r.put(t, "c")
			want(t, b.next(t), r3, false, r1, "bad", "c")
		}},
		{"a reconnect from an empty cache gets everything, the rejected change included", func(t *testing.T, r *rig) {
			a, _, r2 := r.rejectOne(t, "no")
			close(a.recv)
			a.ended(t)
			// The agent restarted from scratch (empty cache): it gets everything.
			b := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
			want(t, b.next(t), r2, false, 0, "a", "bad")
		}},
		{"an ACK for a revision not in flight still records what the agent serves", func(t *testing.T, r *rig) {
			r1 := r.put(t, "a")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
			want(t, a.next(t), r1, false, 0, "a")
			a.ack(r1 + 7)
			r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return s.GetAppliedRevision() == r1+7 })
		}},
		{"a second stream for a node replaces the first", func(t *testing.T, r *rig) {
			r1 := r.put(t, "a")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
			want(t, a.next(t), r1, false, 0, "a")
			b := r.connect(t, &edgeplanev1.Hello{NodeId: "n1", Revision: r1})
			if err := a.ended(t); err != nil {
				t.Fatalf("got %v from the replaced stream, want nil", err)
			}
			r2 := r.put(t, "b")
			want(t, b.next(t), r2, false, r1, "b")
			if got := r.fan.Connected(); got != 1 {
				t.Fatalf("got %d connected, want 1", got)
			}
		}},
		{"a message other than ACK or NACK after Hello ends the stream", func(t *testing.T, r *rig) {
			r1 := r.put(t, "a")
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
			want(t, a.next(t), r1, false, 0, "a")
			a.recv <- &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{NodeId: "n1"}}}
			if err := a.ended(t); err == nil {
				t.Fatal("got nil, want an error for a second Hello")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newRig(t))
		})
	}
}

func TestServe_RefusesBadHello(t *testing.T) {
	tests := []struct {
		name  string
		first *edgeplanev1.AgentMessage
		field string
	}{
		{"ack first", &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: 1}}}, "hello"},
		{"empty node id", &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{}}}, "hello.node_id"},
		{"node id with a slash", &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{NodeId: "a/b"}}}, "hello.node_id"},
	}
	r := newRig(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := r.open(t, tt.first)
			err := a.ended(t)
			var ve *model.ValidationError
			if !errors.As(err, &ve) || len(ve.Violations) == 0 || ve.Violations[0].Field != tt.field {
				t.Fatalf("got %v, want a validation error on %s", err, tt.field)
			}
		})
	}
}

// rejectOne connects agent n1, which applies revision r1 (route "a") and NACKs r2 (route
// "bad") with why, and waits until the store records the rejection.
func (r *rig) rejectOne(t *testing.T, why string) (a *agent, r1, r2 int64) {
	t.Helper()
	r1 = r.put(t, "a")
	a = r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
	want(t, a.next(t), r1, false, 0, "a")
	a.ack(r1)
	r2 = r.put(t, "bad")
	want(t, a.next(t), r2, false, r1, "bad")
	a.nack(r2, why)
	r.status(t, "n1", func(s *edgeplanev1.Agent) bool {
		return s.GetRejectedRevision() == r2 && s.GetLastError() == why && s.GetAppliedRevision() == r1
	})
	return a, r1, r2
}

// A status flush that fails (Redis down) is queued again and lands once Redis is back, though
// nothing else changes meanwhile (no heartbeat either); the session's later changes are
// written too.
func TestServe_StatusRetriedAfterRedisOutage(t *testing.T) {
	failed := make(chan struct{}, 1)
	r := newRig(t, func(c *fanout.Config) {
		c.Heartbeat = time.Hour
		c.Logger = slog.New(&onMessage{msg: "writing agent statuses failed; will retry", c: failed})
	})
	r1 := r.put(t, "a")
	a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
	want(t, a.next(t), r1, false, 0, "a")
	a.ack(r1)
	r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return s.GetAppliedRevision() == r1 })

	r.redis.Stop()
	a.nack(r1+5, "boom")
	select {
	case <-failed:
	case <-time.After(wait):
		t.Fatal("no status flush failed while Redis was down")
	}
	r.redis.Start() // empty: the session's update finds no owner and claims the node again
	r.status(t, "n1", func(s *edgeplanev1.Agent) bool {
		return s.GetRejectedRevision() == r1+5 && s.GetLastError() == "boom" && s.GetAppliedRevision() == r1 && s.GetConnected()
	})
	a.nack(r1+6, "boom again")
	r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return s.GetRejectedRevision() == r1+6 })
}

// onMessage is a log handler that signals c for every record with message msg.
type onMessage struct {
	msg string
	c   chan struct{}
}

func (h *onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h *onMessage) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.msg {
		select {
		case h.c <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h *onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *onMessage) WithGroup(string) slog.Handler      { return h }
