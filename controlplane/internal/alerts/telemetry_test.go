package alerts_test

import (
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
