package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// DefaultMinReplicasTimeout is how long a config write waits for its replicas by default.
const DefaultMinReplicasTimeout = time.Second

// ErrNotReplicated is wrapped (with model.ErrUnavailable) when a config write was applied on
// the primary but fewer replicas than Config.MinReplicas confirmed it in time: the write
// may stay (and reach agents), or vanish if the primary fails before replicating it.
var ErrNotReplicated = fmt.Errorf("the write was applied on the Redis primary but not confirmed by enough replicas; " +
	"it may still take effect, or be lost if the primary fails now: read the resource before retrying")

// runScript runs script on the primary holding keys[0]. With MinReplicas set it sends WAIT
// on the same connection, right after the script, and fails with ErrNotReplicated when
// fewer replicas confirm the write in time.
func (s *Store) runScript(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	if s.minReplicas <= 0 {
		return script.Run(ctx, s.rdb, keys, args...)
	}
	cmd := s.runWait(ctx, script, keys, args...)
	if c, ok := s.rdb.(*redis.ClusterClient); ok && isRedirect(cmd.Err()) {
		// The slot moved (a Cluster failover) and the script did not run: once more on the
		// primary the refreshed slot map names.
		c.ReloadState(ctx)
		cmd = s.runWait(ctx, script, keys, args...)
	}
	return cmd
}

// isRedirect: a Cluster node answered MOVED or ASK (the command was not run).
func isRedirect(err error) bool {
	return err != nil && (strings.HasPrefix(err.Error(), "MOVED ") || strings.HasPrefix(err.Error(), "ASK "))
}

// runWait is runScript on the primary holding keys[0], with WAIT after it.
func (s *Store) runWait(ctx context.Context, script *redis.Script, keys []string, args ...any) *redis.Cmd {
	node, err := s.primaryFor(ctx, keys[0])
	if err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	conn := node.Conn() // WAIT counts the replicas that have this connection's writes
	defer conn.Close()
	cmd := script.Run(ctx, conn, keys, args...)
	if cmd.Err() != nil {
		return cmd
	}
	acked, err := conn.Wait(ctx, s.minReplicas, s.minReplicasTimeout).Result()
	switch {
	case err != nil:
		cmd.SetErr(fmt.Errorf("waiting for %d replicas: %w", s.minReplicas, err))
	case acked < int64(s.minReplicas):
		cmd.SetErr(fmt.Errorf("%w: %w (%d of %d replicas within %v)", model.ErrUnavailable, ErrNotReplicated,
			acked, s.minReplicas, s.minReplicasTimeout))
	}
	return cmd
}

// primaryFor returns a client on the primary serving key: the Cluster node owning its slot,
// else the store's client (one server, or the Sentinel-named primary).
func (s *Store) primaryFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		node, err := c.MasterForKey(ctx, key)
		if err != nil {
			return nil, fmt.Errorf("finding the primary of %s: %w", key, err)
		}
		return node, nil
	case *redis.Client:
		return c, nil
	}
	return nil, fmt.Errorf("--redis-min-replicas needs a Redis, Sentinel or Cluster client, not %T", s.rdb)
}
