package app

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/redisurl"
)

// newRedis opens a client for rawURL, in any form redisurl accepts (one server, a Cluster
// with ?addr=, Sentinel with ?master_name=).
//
// Writes fail fast (short timeouts, one retry) so a missing Redis is reported as Unavailable
// instead of hanging callers; blocking reads set their own timeouts. The caller's context
// deadline is honoured too (ContextTimeoutEnabled): a socket read, write or dial ends at the
// earlier of the timeout and the deadline, and a retry is not started past the deadline, so
// a call made for an RPC (whose context the API cuts short of the RPC's deadline) fails
// before the client gives up. Without a deadline the timeouts above bound each attempt.
func newRedis(rawURL string, poolSize int) (redis.UniversalClient, error) {
	c, err := redisurl.Open(rawURL, redisurl.Tuning{
		PoolSize: poolSize, MaxRetries: 1,
		DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	// redisurl.Tuning has no switch for it; the options are read per command, and nothing
	// has used the client yet.
	switch rc := c.UniversalClient.(type) {
	case *redis.Client: // one server, or Sentinel's master client
		rc.Options().ContextTimeoutEnabled = true
	case *redis.ClusterClient: // copied into each node's client when it is created
		rc.Options().ContextTimeoutEnabled = true
	}
	return c.UniversalClient, nil
}

func init() {
	// go-redis logs every failed dial on its own; the state loop and the API already report
	// a missing Redis once, with context.
	redis.SetLogger(quietLogger{})
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
