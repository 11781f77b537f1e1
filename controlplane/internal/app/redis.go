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
// instead of hanging callers; blocking reads set their own timeouts.
func newRedis(rawURL string, poolSize int) (redis.UniversalClient, error) {
	c, err := redisurl.Open(rawURL, redisurl.Tuning{
		PoolSize: poolSize, MaxRetries: 1,
		DialTimeout: 2 * time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second,
	})
	if err != nil {
		return nil, err
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
