package alerts_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// A telemetry Redis at its maxmemory (noeviction) refuses the alert state's writes too: the
// alert still reaches the webhook, and freeing memory resolves it.
func TestManager_TelemetryStoreFullFiresWithoutItsState(t *testing.T) {
	srv := redistest.NewWithOptions(t, redistest.Options{Args: []string{"--maxmemory", "4mb", "--maxmemory-policy", "noeviction"}})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	fill := strings.Repeat("x", 64<<10)
	for i := 0; ; i++ {
		err := rdb.Set(t.Context(), "fill:"+string(rune('a'+i%26))+strings.Repeat("-", i/26), fill, 0).Err()
		if err != nil {
			if !strings.Contains(err.Error(), "OOM") {
				t.Fatal(err)
			}
			break
		}
	}
	recv := newReceiver(t, 0)
	health := &countingHealth{TelemetryHealth: &telemetry.Health{Client: rdb}}
	startManager(t, alerts.Config{Client: rdb, Telemetry: health, Webhooks: []string{recv.URL},
		EvalEvery: 20 * time.Millisecond, Cooldown: time.Hour, Rules: []alerts.Rule{{Kind: alerts.TelemetryStore}}})
	waitFor(t, "TelemetryDropping", func() bool { f, _ := recv.count("TelemetryDropping"); return f == 1 })
	a := recv.alerts()[0]
	if a.Labels["store"] != "telemetry" || a.Labels["severity"] != "critical" || !strings.Contains(a.Annotations["description"], "maxmemory") {
		t.Errorf("got %+v, want a critical alert on the telemetry store naming maxmemory", a)
	}
	// Evaluations go on; the in-memory cooldown keeps it to one notification.
	health.waitMore(t, 10)
	if f, _ := recv.count("TelemetryDropping"); f != 1 {
		t.Errorf("got %d notifications within the cooldown, want 1: %+v", f, recv.alerts())
	}
}

func TestManager_TelemetryStoreDownFires(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	t.Cleanup(func() { rdb.Close() })
	srv.Stop()
	recv := newReceiver(t, 0)
	startManager(t, alerts.Config{Client: rdb, Telemetry: &telemetry.Health{Client: rdb}, Webhooks: []string{recv.URL},
		EvalEvery: 20 * time.Millisecond, Rules: []alerts.Rule{{Kind: alerts.TelemetryStore}}})
	waitFor(t, "TelemetryDropping", func() bool { f, _ := recv.count("TelemetryDropping"); return f == 1 })
	if d := recv.alerts()[0].Annotations["description"]; !strings.Contains(d, "does not answer") {
		t.Errorf("description: got %q, want it to say the Redis does not answer", d)
	}
}

// stuckHealth reports a problem whatever it is asked with: a telemetry source that does not
// look at its context, to show that Evaluate itself judges nothing once its ctx ended.
type stuckHealth struct{}

func (stuckHealth) Problem(context.Context) string { return "the telemetry Redis does not answer" }

// A control plane that stops while its telemetry Redis is down (or while a round's reads
// are cut short by the stop) fires nothing on its way out: the round's failures come from
// its own context, not from Redis. The same round with a live context fires.
func TestManager_NoAlertFromARoundItsStopCutShort(t *testing.T) {
	srv := redistest.New(t)
	rdb := srv.Client()
	srv.Stop() // the alert state cannot be read: the round judges the telemetry rules alone
	var logs bytes.Buffer
	m := alerts.New(alerts.Config{Client: rdb, Telemetry: stuckHealth{}, Rules: []alerts.Rule{{Kind: alerts.TelemetryStore}},
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	stopped, cancel := context.WithCancel(t.Context())
	cancel()
	if err := m.Evaluate(stopped); err == nil {
		t.Error("Evaluate with an ended context: got nil, want its error")
	}
	if strings.Contains(logs.String(), "alert firing") {
		t.Fatalf("a round cut short by its stop fired an alert:\n%s", logs.String())
	}
	_ = m.Evaluate(t.Context())
	if !strings.Contains(logs.String(), "alert firing") || !strings.Contains(logs.String(), "TelemetryDropping") {
		t.Errorf("the same round with a live context: got logs\n%s\nwant TelemetryDropping firing", logs.String())
	}
}
