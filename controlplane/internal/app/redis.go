package app

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// newRedis opens a client for rawURL:
//   - redis://[:password@]host:port/db (or rediss:// for TLS): one server;
//   - ...?addr=host2:port&addr=host3:port: a Redis Cluster seeded with every address;
//   - ...?master_name=NAME&addr=...: Sentinel, the hosts being the sentinels.
//
// Writes fail fast (short timeouts, one retry) so a missing Redis is reported as Unavailable
// instead of hanging callers; blocking reads set their own timeouts.
func newRedis(rawURL string, poolSize int) (redis.UniversalClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	q := u.Query()
	tune := func(dial, rw *time.Duration, retries *int) {
		*dial, *rw, *retries = 2*time.Second, 3*time.Second, 1
	}
	switch {
	case q.Has("master_name"):
		opt, err := redis.ParseClusterURL(withoutParam(u, "master_name"))
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		fo := &redis.FailoverOptions{
			MasterName: q.Get("master_name"), SentinelAddrs: opt.Addrs, Username: opt.Username,
			Password: opt.Password, TLSConfig: opt.TLSConfig, PoolSize: poolSize,
		}
		tune(&fo.DialTimeout, &fo.WriteTimeout, &fo.MaxRetries)
		fo.ReadTimeout = fo.WriteTimeout
		return redis.NewFailoverClient(fo), nil
	case q.Has("addr"):
		opt, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, fmt.Errorf("redis url: %w", err)
		}
		opt.PoolSize = poolSize
		tune(&opt.DialTimeout, &opt.WriteTimeout, &opt.MaxRetries)
		opt.ReadTimeout = opt.WriteTimeout
		return redis.NewClusterClient(opt), nil
	}
	opt, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opt.PoolSize = poolSize
	tune(&opt.DialTimeout, &opt.WriteTimeout, &opt.MaxRetries)
	opt.ReadTimeout = opt.WriteTimeout
	return redis.NewClient(opt), nil
}

func withoutParam(u *url.URL, name string) string {
	c := *u
	q := c.Query()
	q.Del(name)
	c.RawQuery = q.Encode()
	return c.String()
}

func init() {
	// go-redis logs every failed dial on its own; the state loop and the API already report
	// a missing Redis once, with context.
	redis.SetLogger(quietLogger{})
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}
