package redistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestSentinel_FailoverPromotesTheReplicaWithTheData(t *testing.T) {
	s := NewSentinel(t, Options{Password: "pw"})
	ctx := t.Context()
	c := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: MasterName, Password: "pw",
		SentinelAddrs: []string{s.Sentinels[0].Addr, s.Sentinels[1].Addr, s.Sentinels[2].Addr}})
	defer c.Close()
	if err := c.Set(ctx, "k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old := s.Primary()
	s.Failover()
	if got := s.Primary(); got == old {
		t.Fatalf("primary after failover: got %s, want the other node", got.Addr)
	}
	if got, err := c.Get(ctx, "k").Result(); err != nil || got != "before" {
		t.Errorf("after failover: got %q, %v; want %q", got, err, "before")
	}
	s.WaitReplicated() // the old primary follows the new one
	if got := s.Replica(); got != old {
		t.Errorf("replica after failover: got %s, want the old primary %s", got.Addr, old.Addr)
	}
}

func TestCluster_FailoverMovesTheSlotToTheReplica(t *testing.T) {
	c := NewCluster(t, Options{Password: "pw"})
	ctx := context.Background()
	addrs := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		addrs[i] = n.Addr
	}
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs, Password: "pw"})
	defer cl.Close()
	if err := cl.Set(ctx, "{edgeplane}:k", "before", 0).Err(); err != nil {
		t.Fatal(err)
	}
	old, promoted := c.Failover("{edgeplane}:k")
	if p, _ := c.Owner("{edgeplane}:k"); p != promoted || p == old {
		t.Fatalf("owner after failover: got %s, want %s", p.Addr, promoted.Addr)
	}
	if got, err := cl.Get(ctx, "{edgeplane}:k").Result(); err != nil || got != "before" {
		t.Errorf("after failover: got %q, %v; want %q", got, err, "before")
	}
	c.WaitHealthy()
}
