package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// With --telemetry-redis-url, telemetry lives on its own Redis. When that Redis is full
// (maxmemory, noeviction) and then down, route writes, fleet propagation and proxying go on,
// and the control plane raises TelemetryDropping.
func TestTelemetryRedis_FullThenDownLeavesConfigAndProxyingUntouched(t *testing.T) {
	state := redistest.New(t)
	tel := redistest.NewWithOptions(t, redistest.Options{Args: []string{"--maxmemory", "8mb", "--maxmemory-policy", "noeviction"}})
	cp := startControl(t, state.URL(), "cp-1", "--telemetry-redis-url", tel.URL(), "--agent-redis-url", tel.URL())
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))
	ag.expectServes("web.test", "/", http.StatusOK, "A /")

	tdb := redis.NewClient(&redis.Options{Addr: tel.Addr})
	defer tdb.Close()
	sdb := redis.NewClient(&redis.Options{Addr: state.Addr})
	defer sdb.Close()
	eventually(t, 10*time.Second, func() error {
		if n := tdb.XLen(t.Context(), "logs:request:stream").Val(); n == 0 {
			return fmt.Errorf("no request record on the telemetry Redis yet")
		}
		return nil
	})
	for _, s := range []string{"logs:request:stream", "logs:all:stream", "events:all:stream"} {
		if n, _ := sdb.Exists(t.Context(), s).Result(); n != 0 {
			t.Errorf("the state Redis holds %s, want it on the telemetry Redis only", s)
		}
	}

	fillUntilOOM(t, tdb)
	create(t, cp, route("api", "api.test", backend(t, "B")))
	ag.expectServes("api.test", "/", http.StatusOK, "B /")
	ag.expectServes("web.test", "/", http.StatusOK, "A /")
	eventually(t, 30*time.Second, func() error {
		for _, rec := range cp.Logs("alert firing") {
			if rec["alertname"] == "TelemetryDropping" && strings.Contains(fmt.Sprint(rec["description"]), "maxmemory") {
				return nil
			}
		}
		return fmt.Errorf("no TelemetryDropping alert in the control plane's log")
	})

	tel.Stop()
	create(t, cp, route("down", "down.test", backend(t, "C")))
	ag.expectServes("down.test", "/", http.StatusOK, "C /")
	if _, err := cp.Routes().ListRoutes(t.Context(), &edgeplanev1.ListRoutesRequest{}); err != nil {
		t.Errorf("ListRoutes with the telemetry Redis down: %v", err)
	}
}

// fillUntilOOM writes until Redis refuses writes for lack of memory.
func fillUntilOOM(t *testing.T, rdb *redis.Client) {
	t.Helper()
	value := strings.Repeat("x", 64<<10)
	for i := 0; i < 100000; i++ {
		err := rdb.Set(t.Context(), fmt.Sprintf("fill:%d", i), value, 0).Err()
		if err != nil && strings.Contains(err.Error(), "OOM") {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the telemetry Redis never refused a write")
}
