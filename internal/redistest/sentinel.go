package redistest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"
)

// MasterName is the name the sentinels of NewSentinel monitor.
const MasterName = "edgeplane"

// Sentinel is a primary, a replica and three sentinels (quorum 2) on loopback, each its own
// redis-server process, killed when the test ends. The sentinels mark the primary down after
// 1s without answers.
type Sentinel struct {
	// Nodes are the two data servers; which one is the primary changes with failovers.
	Nodes [2]*Server
	// Sentinels are the three redis-server --sentinel processes.
	Sentinels [3]*Server

	t    testing.TB
	opts Options
}

// NewSentinel starts the five processes and returns once the replica is in sync and every
// sentinel knows the replica and the two other sentinels. opts apply to the data servers
// (Password is required from clients and used between them).
func NewSentinel(t testing.TB, opts Options) *Sentinel {
	t.Helper()
	s := &Sentinel{t: t, opts: opts}
	// Each data server has a config file the sentinels rewrite (CONFIG REWRITE) when they
	// change its role, so a restarted server comes back in its current role, as in production.
	s.Nodes[0] = NewWithOptions(t, s.dataConf(withMasterAuth(opts), ""))
	s.Nodes[1] = NewWithOptions(t, s.dataConf(withMasterAuth(opts), fmt.Sprintf("replicaof %s %d\n", opts.host(), s.Nodes[0].Port())))
	waitFor(t, haTimeout, "replica in sync", func(ctx context.Context) error { return linkUp(ctx, s.Nodes[0], s.Nodes[1]) })
	for i := range s.Sentinels {
		s.Sentinels[i] = NewWithOptions(t, Options{ConfigFile: s.sentinelConf(i), Args: []string{"--sentinel"}, Host: opts.Host, Wrap: opts.Wrap})
	}
	waitFor(t, haTimeout, "sentinels discovering each other", s.discovered)
	return s
}

func (s *Sentinel) dataConf(o Options, conf string) Options {
	path := filepath.Join(s.t.TempDir(), "redis.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		s.t.Fatalf("redistest: writing %s: %v", path, err)
	}
	o.ConfigFile = path
	return o
}

func (s *Sentinel) sentinelConf(i int) string {
	conf := fmt.Sprintf("sentinel monitor %[1]s %[3]s %[2]d 2\n"+
		"sentinel down-after-milliseconds %[1]s 1000\n"+
		"sentinel failover-timeout %[1]s 10000\n", MasterName, s.Nodes[0].Port(), s.opts.host())
	if s.opts.Password != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", MasterName, s.opts.Password)
	}
	path := filepath.Join(s.t.TempDir(), "sentinel-"+strconv.Itoa(i)+".conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		s.t.Fatalf("redistest: writing %s: %v", path, err)
	}
	return path
}

func (s *Sentinel) discovered(ctx context.Context) error {
	for _, sn := range s.Sentinels {
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
		reps, err := c.Replicas(ctx, MasterName).Result()
		if err == nil && len(reps) != 1 {
			err = fmt.Errorf("sentinel %s knows %d replicas, want 1", sn.Addr, len(reps))
		}
		if err == nil {
			var peers []map[string]string
			if peers, err = c.Sentinels(ctx, MasterName).Result(); err == nil && len(peers) != 2 {
				err = fmt.Errorf("sentinel %s knows %d other sentinels, want 2", sn.Addr, len(peers))
			}
		}
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// URL is the edgeplane Sentinel URL: redis://[:password@]sentinel1?master_name=edgeplane&addr=sentinel2&addr=sentinel3.
func (s *Sentinel) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Sentinels[0].Addr}
	if s.opts.Password != "" {
		u.User = url.UserPassword("", s.opts.Password)
	}
	q := url.Values{"master_name": {MasterName}, "addr": {s.Sentinels[1].Addr, s.Sentinels[2].Addr}}
	u.RawQuery = q.Encode()
	return u.String()
}

// PrimaryAddr is the primary's address as the first sentinel that answers names it.
func (s *Sentinel) PrimaryAddr(ctx context.Context) (string, error) {
	var lastErr error
	for _, sn := range s.Sentinels {
		if !sn.Running() {
			continue
		}
		c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
		hp, err := c.GetMasterAddrByName(ctx, MasterName).Result()
		c.Close()
		if err == nil && len(hp) == 2 {
			return hp[0] + ":" + hp[1], nil
		}
		lastErr = err
	}
	return "", fmt.Errorf("no sentinel names the primary: %v", lastErr)
}

// Primary and Replica return the data servers by their current role per the sentinels.
func (s *Sentinel) Primary() *Server {
	s.t.Helper()
	addr, err := s.PrimaryAddr(context.Background())
	if err != nil {
		s.t.Fatalf("redistest: %v", err)
	}
	for _, n := range s.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	s.t.Fatalf("redistest: sentinels name %s, which is none of the data servers", addr)
	return nil
}

// Replica returns the data server that is not the primary.
func (s *Sentinel) Replica() *Server {
	s.t.Helper()
	if p := s.Primary(); p == s.Nodes[0] {
		return s.Nodes[1]
	}
	return s.Nodes[0]
}

// Failover asks a sentinel for a failover (SENTINEL FAILOVER: the replica catches up, then
// is promoted) and returns once every sentinel names the new primary and it answers as one.
func (s *Sentinel) Failover() {
	s.t.Helper()
	old := s.Primary()
	c := redis.NewSentinelClient(&redis.Options{Addr: s.Sentinels[0].Addr, MaxRetries: -1})
	defer c.Close()
	if err := c.Failover(context.Background(), MasterName).Err(); err != nil {
		s.t.Fatalf("redistest: SENTINEL FAILOVER: %v", err)
	}
	s.WaitPrimaryNot(old)
}

// WaitPrimaryNot waits until every running sentinel names a primary other than old and that
// server reports the master role (after Failover, or after old was killed).
func (s *Sentinel) WaitPrimaryNot(old *Server) {
	s.t.Helper()
	waitFor(s.t, haTimeout, "failover away from "+old.Addr, func(ctx context.Context) error {
		var next *Server
		for _, sn := range s.Sentinels {
			if !sn.Running() {
				continue
			}
			c := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr, MaxRetries: -1})
			hp, err := c.GetMasterAddrByName(ctx, MasterName).Result()
			c.Close()
			if err != nil {
				return err
			}
			if addr := hp[0] + ":" + hp[1]; addr == old.Addr {
				return fmt.Errorf("sentinel %s still names %s", sn.Addr, addr)
			}
		}
		for _, n := range s.Nodes {
			if n != old {
				next = n
			}
		}
		info, err := next.Info(ctx, "replication")
		if err != nil {
			return err
		}
		if info["role"] != "master" {
			return fmt.Errorf("%s has role %s", next.Addr, info["role"])
		}
		return nil
	})
}

// WaitReplicated waits until the current replica is connected to the primary and in sync
// (after a failover, the old primary is turned into a replica by the sentinels).
func (s *Sentinel) WaitReplicated() {
	s.t.Helper()
	waitFor(s.t, haTimeout, "replica in sync", func(ctx context.Context) error {
		addr, err := s.PrimaryAddr(ctx)
		if err != nil {
			return err
		}
		p, r := s.Nodes[0], s.Nodes[1]
		if r.Addr == addr {
			p, r = r, p
		}
		return linkUp(ctx, p, r)
	})
}
