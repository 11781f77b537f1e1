package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/redisurl"
)

// A Sentinel failover (SENTINEL FAILOVER) during a stream of writes through two replicas.
// Sentinel promotes the replica before the old primary stops taking writes, so writes
// acknowledged in between are lost unless they wait for the replica: this runs with
// --redis-min-replicas 1 (TestMinReplicas_* shows the loss without it).
func TestSentinelFailover_WritesFailFastThenSucceedAndReachEveryAgent(t *testing.T) {
	s := redistest.NewSentinel(t, redistest.Options{Password: "state-pw"})
	failoverUnderWrites(t, s.URL(), func() { s.Failover() }, "--redis-min-replicas", "1")
}

// A Cluster failover (CLUSTER FAILOVER on the replica of the primary holding the config's
// hash slot) during a stream of writes through two replicas.
func TestClusterFailover_WritesFailFastThenSucceedAndReachEveryAgent(t *testing.T) {
	c := redistest.NewCluster(t, redistest.Options{Password: "state-pw"})
	failoverUnderWrites(t, c.URL(), func() { c.Failover("{edgeplane}:revision") })
}

// The primary holding the config's slot is killed during a stream of writes; its replica
// takes over, and the killed node rejoins as the new primary's replica. With
// --redis-min-replicas 1 writes fail (Unavailable) until a replica confirms them again; none
// acknowledged is lost.
func TestClusterPrimaryKilled_WritesFailUntilReplicatedThenReachEveryAgent(t *testing.T) {
	c := redistest.NewCluster(t, redistest.Options{Password: "state-pw", Persist: true})
	const key = "{edgeplane}:revision"
	failoverUnderWrites(t, c.URL(), func() {
		old, replica := c.Owner(key)
		old.Kill()
		c.WaitOwner(key, replica)
		old.Start()
		c.WaitHealthy()
	}, "--redis-min-replicas", "1")
}

// failoverUnderWrites runs two control-plane replicas and an agent on each on the Redis at
// url (the agents also publish their request records there), streams route writes, runs
// failover in the middle, and checks: failed writes are Unavailable within their deadline;
// writes succeed again afterwards; no agent applied an older revision after a newer one;
// every acknowledged write is on every agent.
func failoverUnderWrites(t *testing.T, url string, failover func(), extra ...string) {
	args := append([]string{"--agent-redis-url", url}, extra...)
	cp1 := startControl(t, url, "cp-1", args...)
	cp2 := startControl(t, url, "cp-2", args...)
	a1 := startAgent(t, cp1.Addr, "edge-1", t.TempDir())
	a2 := startAgent(t, cp2.Addr, "edge-2", t.TempDir())
	eventually(t, 15*time.Second, func() error { return connected(t, cp1, 2) })

	w := startWriter(t, backend(t, "B"), cp1, cp2)
	w.WaitAcked(20, 30*time.Second)
	start := time.Now()
	failover()
	t.Logf("failover took %v", time.Since(start))
	w.WaitAcked(20, 60*time.Second)
	w.Stop()

	rs := w.Results()
	failed, longest := checkFailures(t, rs)
	names := acked(rs)
	t.Logf("%d writes, %d acknowledged, %d failed (Unavailable), longest answer %v", len(rs), len(names), failed, longest)
	checkOnEveryAgent(t, names, a1, a2)
	checkMonotonic(t, a1, a2)
	checkRequestRecords(t, url, a1)
}

// checkRequestRecords sends a request through a and waits for its record on the request
// stream, read through url (so the agent's publisher handled the URL form).
func checkRequestRecords(t *testing.T, url string, a *agent) {
	t.Helper()
	c, err := redisurl.Open(url, redisurl.Tuning{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, 15*time.Second, func() error {
		if _, _, err := a.Get("w-0.test", "/"); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := c.XLen(ctx, "logs:request:stream").Result()
		if err == nil && n == 0 {
			err = errNoRecords
		}
		return err
	})
}

var errNoRecords = errorString("no request records on logs:request:stream yet")

type errorString string

func (e errorString) Error() string { return string(e) }
