package redistest

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// haTimeout bounds how long a Sentinel or Cluster helper waits for the servers to agree
// (replicas in sync, sentinels discovering each other, a failover finishing).
const haTimeout = 60 * time.Second

// Client returns a go-redis client on this one server, closed when the test ends.
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.opts.Password, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 5 * time.Second})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// conn is a client the caller closes.
func (s *Server) conn() *redis.Client {
	return redis.NewClient(&redis.Options{Addr: s.Addr, Password: s.opts.Password, MaxRetries: -1,
		DialTimeout: time.Second, ReadTimeout: 2 * time.Second})
}

// Info returns one INFO section of the server as key/value pairs.
func (s *Server) Info(ctx context.Context, section string) (map[string]string, error) {
	c := s.conn()
	defer c.Close()
	txt, err := c.Info(ctx, section).Result()
	if err != nil {
		return nil, err
	}
	return parseInfo(txt), nil
}

// Running reports whether the server's process is up (it was not stopped or killed).
func (s *Server) Running() bool { return s.running() }

func parseInfo(txt string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(txt, "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			m[k] = v
		}
	}
	return m
}

// waitFor retries fn every 50ms until it returns nil; after timeout it fails t with what
// and fn's last error.
func waitFor(t testing.TB, timeout time.Duration, what string, fn func(ctx context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := fn(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("redistest: %s: not done after %v: %v", what, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func withMasterAuth(o Options) Options {
	if o.Password != "" {
		o.Args = append([]string{"--masterauth", o.Password}, o.Args...)
	}
	return o
}

// linkUp reports whether replica is connected to its primary and has caught up with it.
func linkUp(ctx context.Context, primary, replica *Server) error {
	ri, err := replica.Info(ctx, "replication")
	if err != nil {
		return err
	}
	if ri["master_link_status"] != "up" {
		return fmt.Errorf("replica %s: link %q", replica.Addr, ri["master_link_status"])
	}
	pi, err := primary.Info(ctx, "replication")
	if err != nil {
		return err
	}
	if pi["master_repl_offset"] != ri["slave_repl_offset"] {
		return fmt.Errorf("replica %s at offset %s, primary %s at %s", replica.Addr, ri["slave_repl_offset"],
			primary.Addr, pi["master_repl_offset"])
	}
	return nil
}

// cliBinary finds redis-cli next to redis-server, then in PATH.
func cliBinary(server string) (string, error) {
	if p := filepath.Join(filepath.Dir(server), "redis-cli"); p != "" {
		if _, err := exec.LookPath(p); err == nil {
			return p, nil
		}
	}
	return exec.LookPath("redis-cli")
}
