package e2e

import (
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/redistest"
)

// With telemetry on a Redis of its own, an enrolled agent's Redis user is made there, and its
// URL points there: request records never touch the state Redis.
func TestEnroll_AgentRedisUserLivesOnTheTelemetryRedis(t *testing.T) {
	state, tel := redistest.New(t), redistest.New(t)
	cp, pin := startControlTLS(t, state.URL(), "cp-1", "--telemetry-redis-url", tel.URL())
	ts, u, c := agentRedis(t, cp, pin, "edge-7")
	if u.Port() != strconv.Itoa(tel.Port()) {
		t.Fatalf("agent Redis URL %q: got port %s, want the telemetry Redis's %d", ts.GetRedisUrl(), u.Port(), tel.Port())
	}
	if err := c.XAdd(t.Context(), &redis.XAddArgs{Stream: ts.GetRequestStream(), Values: []any{"k", "v"}}).Err(); err != nil {
		t.Fatalf("XADD on the telemetry Redis with the agent's user: %v", err)
	}
	onState := redis.NewClient(&redis.Options{Addr: state.Addr})
	defer onState.Close()
	if users, err := onState.Do(t.Context(), "ACL", "USERS").StringSlice(); err != nil || len(users) != 1 {
		t.Errorf("ACL USERS on the state Redis: got %v (%v), want only the default user", users, err)
	}
}
