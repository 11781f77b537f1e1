package redistest

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// Cluster is a 6-node Redis Cluster on loopback: three primaries and a replica of each,
// made with `redis-cli --cluster create ... --cluster-replicas 1`. A node is marked failed
// after 1s without answers (cluster-node-timeout). Every process is killed when the test ends.
type Cluster struct {
	// Nodes are the six servers; which are primaries changes with failovers.
	Nodes [6]*Server

	t    testing.TB
	opts Options
}

// NewCluster starts six cluster-enabled servers, joins them into a cluster and returns once
// every node reports cluster_state:ok and every replica is in sync. opts apply to every node.
func NewCluster(t testing.TB, opts Options) *Cluster {
	t.Helper()
	c := &Cluster{t: t, opts: opts}
	for i := range c.Nodes {
		bus, err := freePort()
		if err != nil {
			t.Fatalf("redistest: picking a cluster bus port: %v", err)
		}
		o := withMasterAuth(opts)
		o.Args = append([]string{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
			"--cluster-node-timeout", "1000", "--cluster-port", strconv.Itoa(bus)}, o.Args...)
		c.Nodes[i] = NewWithOptions(t, o)
	}
	c.create()
	waitFor(t, haTimeout, "cluster state ok", c.healthy)
	return c
}

func (c *Cluster) create() {
	cli, err := cliBinary(c.Nodes[0].bin)
	if err != nil {
		c.t.Fatalf("redistest: redis-cli: %v", err)
	}
	args := []string{"--cluster", "create"}
	for _, n := range c.Nodes {
		args = append(args, n.Addr)
	}
	args = append(args, "--cluster-replicas", "1", "--cluster-yes")
	if c.opts.Password != "" {
		args = append(args, "-a", c.opts.Password, "--no-auth-warning")
	}
	if out, err := exec.Command(cli, args...).CombinedOutput(); err != nil {
		c.t.Fatalf("redistest: redis-cli --cluster create: %v\n%s", err, out)
	}
}

// healthy: every running node says cluster_state:ok and agrees on three primaries, each with
// an in-sync replica.
func (c *Cluster) healthy(ctx context.Context) error {
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		cl := n.conn()
		txt, err := cl.ClusterInfo(ctx).Result()
		cl.Close()
		if err != nil {
			return err
		}
		if st := parseInfo(txt)["cluster_state"]; st != "ok" {
			return fmt.Errorf("node %s: cluster_state %s", n.Addr, st)
		}
	}
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info, err := n.Info(ctx, "replication")
		if err != nil {
			return err
		}
		if info["role"] != "slave" {
			continue
		}
		p := c.byAddr(info["master_host"] + ":" + info["master_port"])
		if p == nil {
			return fmt.Errorf("node %s replicates unknown %s:%s", n.Addr, info["master_host"], info["master_port"])
		}
		if err := linkUp(ctx, p, n); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) byAddr(addr string) *Server {
	for _, n := range c.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	return nil
}

// URL is the edgeplane Cluster URL: redis://[:password@]node0?addr=node1&...&addr=node5.
func (c *Cluster) URL() string {
	u := url.URL{Scheme: "redis", Host: c.Nodes[0].Addr}
	if c.opts.Password != "" {
		u.User = url.UserPassword("", c.opts.Password)
	}
	q := url.Values{}
	for _, n := range c.Nodes[1:] {
		q.Add("addr", n.Addr)
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Owner returns the primary serving key's slot and an online replica of it, as a running
// node reports them. It waits (haTimeout at most) while no node reports both online: a
// replica reconnecting to its primary is briefly reported "loading" or "failed", which a
// busy machine stretches.
func (c *Cluster) Owner(key string) (primary, replica *Server) {
	c.t.Helper()
	waitFor(c.t, haTimeout, "a primary and a replica serving "+key, func(ctx context.Context) error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			slot, shards, err := n.slotShards(ctx, key)
			if err != nil {
				continue
			}
			p, r := roles(shards, slot)
			if primary, replica = c.byAddr(p), c.byAddr(r); primary != nil && replica != nil {
				return nil
			}
		}
		return fmt.Errorf("no node says who serves %q with an online replica", key)
	})
	return primary, replica
}

// Failover runs CLUSTER FAILOVER on a replica of key's primary (a manual failover: the
// replica catches up first, no write is lost) and returns once every running node has the
// replica serving key's slot.
func (c *Cluster) Failover(key string) (old, promoted *Server) {
	c.t.Helper()
	old, promoted = c.Owner(key)
	cl := promoted.conn()
	defer cl.Close()
	if err := cl.ClusterFailover(context.Background()).Err(); err != nil {
		c.t.Fatalf("redistest: CLUSTER FAILOVER on %s: %v", promoted.Addr, err)
	}
	c.WaitOwner(key, promoted)
	return old, promoted
}

// WaitOwner waits until every running node says want serves key's slot.
func (c *Cluster) WaitOwner(key string, want *Server) {
	c.t.Helper()
	waitFor(c.t, haTimeout, "slot of "+key+" served by "+want.Addr, func(ctx context.Context) error {
		for _, n := range c.Nodes {
			if !n.Running() {
				continue
			}
			slot, shards, err := n.slotShards(ctx, key)
			if err != nil {
				return err
			}
			if got, _ := roles(shards, slot); got != want.Addr {
				return fmt.Errorf("node %s says %s serves slot %d", n.Addr, got, slot)
			}
		}
		return nil
	})
}

// slotShards returns key's slot and the cluster's shards as node n reports them.
func (n *Server) slotShards(ctx context.Context, key string) (int64, []redis.ClusterShard, error) {
	cl := n.conn()
	defer cl.Close()
	slot, err := cl.ClusterKeySlot(ctx, key).Result()
	if err != nil {
		return 0, nil, err
	}
	shards, err := cl.ClusterShards(ctx).Result()
	return slot, shards, err
}

// roles returns the addresses of the primary serving slot and of a healthy replica of it.
func roles(shards []redis.ClusterShard, slot int64) (primary, replica string) {
	for _, sh := range shards {
		for _, r := range sh.Slots {
			if r.Start > slot || slot > r.End {
				continue
			}
			for _, n := range sh.Nodes {
				addr := fmt.Sprintf("%s:%d", n.IP, n.Port)
				switch {
				case n.Role == "master" && n.Health == "online":
					primary = addr
				case n.Role == "replica" && n.Health == "online":
					replica = addr
				}
			}
			return primary, replica
		}
	}
	return "nobody", ""
}

// WaitHealthy waits until the cluster is ok again and every replica is in sync.
func (c *Cluster) WaitHealthy() {
	c.t.Helper()
	waitFor(c.t, haTimeout, "cluster healthy", c.healthy)
}
