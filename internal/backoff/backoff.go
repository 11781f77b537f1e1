// Package backoff computes jittered exponential delays between retries.
//
// It uses "full jitter": the n-th delay is drawn uniformly from [0, min(Max, Min·2^n)], which
// spreads a fleet of clients that lost the same server instead of having them retry in step.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Defaults used when a Config field is zero.
const (
	DefaultMin = 100 * time.Millisecond
	DefaultMax = 10 * time.Second
)

// Config sets the range of delays.
type Config struct {
	// Min is the ceiling of the first delay. Zero means DefaultMin.
	Min time.Duration
	// Max caps every delay. Zero means DefaultMax; it is raised to Min if smaller.
	Max time.Duration
	// Rand draws the jitter; nil uses math/rand/v2's global source. Tests pass a seeded one
	// to assert a whole schedule.
	Rand *rand.Rand
}

// Backoff hands out successive delays. It is not safe for concurrent use: each retry loop
// owns its own Backoff.
type Backoff struct {
	min, max time.Duration
	attempt  int
	rand     *rand.Rand // nil: the global source
}

// New returns a Backoff whose next delay is the first one.
func New(cfg Config) *Backoff {
	b := &Backoff{min: cfg.Min, max: cfg.Max, rand: cfg.Rand}
	if b.min <= 0 {
		b.min = DefaultMin
	}
	if b.max <= 0 {
		b.max = DefaultMax
	}
	b.max = max(b.max, b.min)
	return b
}

// Ceiling returns the upper bound of the delay Next will return: min(Max, Min·2^attempts).
func (b *Backoff) Ceiling() time.Duration {
	c := b.min
	for range b.attempt {
		if c >= b.max/2 {
			return b.max
		}
		c *= 2
	}
	return min(c, b.max)
}

// Next returns a delay drawn uniformly from [0, Ceiling()] and doubles the ceiling for the
// following call, up to Max.
func (b *Backoff) Next() time.Duration {
	c := b.Ceiling()
	if c < b.max {
		b.attempt++
	}
	if b.rand != nil {
		return time.Duration(b.rand.Int64N(int64(c) + 1))
	}
	return rand.N(c + 1)
}

// Reset makes the next delay the first one again; call it after a success.
func (b *Backoff) Reset() { b.attempt = 0 }

// Wait sleeps for Next() or until ctx is done, in which case it returns ctx.Err().
func (b *Backoff) Wait(ctx context.Context) error {
	if !Sleep(ctx, b.Next()) {
		return ctx.Err()
	}
	return nil
}

// Sleep waits d or until ctx is done; it reports whether d passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
