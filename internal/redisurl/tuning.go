package redisurl

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// set copies v into *dst when v is not zero and *dst is (the URL did not set it).
func set[T comparable](dst *T, v T) {
	var zero T
	if v != zero && *dst == zero {
		*dst = v
	}
}

func (t Tuning) apply(pool, idle, retries, dialRetries *int, dial, read, write *time.Duration) {
	set(pool, t.PoolSize)
	set(idle, t.MinIdleConns)
	set(retries, t.MaxRetries)
	set(dialRetries, t.DialerRetries)
	set(dial, t.DialTimeout)
	set(read, t.ReadTimeout)
	set(write, t.WriteTimeout)
}

func (t Tuning) single(o *redis.Options) {
	t.apply(&o.PoolSize, &o.MinIdleConns, &o.MaxRetries, &o.DialerRetries, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
}

func (t Tuning) cluster(o *redis.ClusterOptions) {
	t.apply(&o.PoolSize, &o.MinIdleConns, &o.MaxRetries, &o.DialerRetries, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
}

func (t Tuning) failover(o *redis.FailoverOptions) {
	t.apply(&o.PoolSize, &o.MinIdleConns, &o.MaxRetries, &o.DialerRetries, &o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout)
}
