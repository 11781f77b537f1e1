package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// events returns an emitter into a redis-server of its own and a function listing the
// event types written so far with their route and target.
func events(t *testing.T) (*telemetry.Events, func() []string) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	pub := publish.New(publish.Config{Client: rdb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = pub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	names := telemetry.StreamNames("")
	list := func() []string {
		msgs, _ := rdb.XRange(context.Background(), names.Events, "-", "+").Result()
		var out []string
		for _, m := range msgs {
			if et := fmt.Sprint(m.Values["event_type"]); strings.HasPrefix(et, "target_") {
				out = append(out, fmt.Sprintf("%s %s %s %s", et, m.Values["node_id"], m.Values["route"], m.Values["target"]))
			}
		}
		return out
	}
	return telemetry.NewEvents(pub, names), list
}

func report(targets ...*edgeplanev1.TargetHealth) *edgeplanev1.AgentMessage {
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_TargetHealth{
		TargetHealth: &edgeplanev1.TargetHealthReport{Targets: targets}}}
}

func th(route, target string, healthy bool) *edgeplanev1.TargetHealth {
	reason := ""
	if !healthy {
		reason = "ejected after 5 consecutive failures"
	}
	return &edgeplanev1.TargetHealth{Route: route, Target: target, Healthy: healthy, Reason: reason}
}

func TestServe_TargetHealth(t *testing.T) {
	ev, list := events(t)
	r := newRig(t, func(c *fanout.Config) { c.Events = ev })
	r1 := r.put(t, "a")
	a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
	want(t, a.next(t), r1, false, 0, "a")
	a.recv <- report(th("a", "http://x:1", true), th("a", "http://y:1", true))
	r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return len(s.GetTargetHealth()) == 2 })
	a.recv <- report(th("a", "http://x:1", true), th("a", "http://y:1", false))
	st := r.status(t, "n1", func(s *edgeplanev1.Agent) bool {
		return len(s.GetTargetHealth()) == 2 && !s.GetTargetHealth()[1].GetHealthy()
	})
	if got := st.GetTargetHealth()[1]; got.GetReason() == "" || got.GetSince() == nil {
		t.Errorf("unhealthy target recorded as %v, want a reason and a since (filled in by the control plane)", got)
	}
	a.recv <- report(th("a", "http://x:1", true), th("a", "http://y:1", true))
	wantEvents := []string{"target_unhealthy n1 a http://y:1", "target_healthy n1 a http://y:1"}
	deadline := time.Now().Add(wait)
	for got := list(); strings.Join(got, ",") != strings.Join(wantEvents, ","); got = list() {
		if time.Now().After(deadline) {
			t.Fatalf("events: got %q, want %q", got, wantEvents)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(a.recv)
	a.ended(t)
	r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return !s.GetConnected() && len(s.GetTargetHealth()) == 0 })
}

func TestServe_RefusesBadTargetHealth(t *testing.T) {
	many := make([]*edgeplanev1.TargetHealth, 1001)
	for i := range many {
		many[i] = th("a", fmt.Sprintf("http://x:%d", i+1), true)
	}
	tests := []struct {
		name  string
		msg   *edgeplanev1.AgentMessage
		field string
	}{
		{"too many", report(many...), "target_health.targets"},
		{"bad route", report(th("A/B", "http://x:1", true)), "target_health.targets[0].route"},
		{"empty target", report(th("a", "", true)), "target_health.targets[0].target"},
		{"long target", report(th("a", "http://x/"+strings.Repeat("p", 2048), true)), "target_health.targets[0].target"},
		{"long reason", report(&edgeplanev1.TargetHealth{Route: "a", Target: "http://x:1", Reason: strings.Repeat("r", 257)}), "target_health.targets[0].reason"},
	}
	r := newRig(t)
	r1 := r.put(t, "a")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
			want(t, a.next(t), r1, false, 0, "a")
			a.recv <- tt.msg
			err := a.ended(t)
			var ve *model.ValidationError
			if !errors.As(err, &ve) || ve.Violations[0].Field != tt.field {
				t.Fatalf("got %v, want a validation error on %s", err, tt.field)
			}
		})
	}
}
