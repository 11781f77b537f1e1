// Package gcfloor keeps the control plane's garbage collector from running every few
// megabytes while its live heap is small.
//
// Why: the request stream's consumer reads blocks of request records in replies of a few
// megabytes (each block a fresh string from the Redis client), so with the runtime's
// default GOGC=100 and a live heap of ~20 MB it collected several times a second. Measured
// on the 2-CPU bench machine, three alternating pairs of `ONLY="edgeplane edgeplane-trace"
// ROUNDS=4 bench/peers/run.sh` with and without GOGC=100 in the environment (which turns
// the floor off): the control plane's CPU per traced request, medians over rounds, 0.9 /
// 0.8 / 0.7 µs with the floor against 1.05 / 1.0 / 0.9 without (about x0.8); requests/s
// within noise. A large control plane (its live heap over Headroom) keeps the default: the
// floor only raises GOGC while the live heap is small, so the heap stays within live +
// Headroom there and within 2x live above.
//
// An operator's GOGC environment variable turns it off: the runtime keeps what it says.
package gcfloor

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

const (
	// Headroom is the least the heap may grow beyond the live heap between collections.
	Headroom = 64 << 20
	// maxPercent bounds GOGC for a tiny live heap.
	maxPercent = 1000
	// interval is how often the live heap is read.
	interval = 5 * time.Second
)

// Percent returns the GOGC for a live heap of live bytes: the runtime's default of 100 once
// the live heap is at least Headroom, and as much more below it as lets the heap grow by
// Headroom (at most maxPercent).
func Percent(live uint64) int {
	if live == 0 {
		return maxPercent
	}
	return int(min(max(Headroom*100/live, 100), maxPercent))
}

// Run sets GOGC to Percent of the live heap now and every interval until ctx ends. It does
// nothing when the GOGC environment variable is set.
func Run(ctx context.Context) {
	if _, set := os.LookupEnv("GOGC"); set {
		return
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	cur := -1
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if p := Percent(sample[0].Value.Uint64()); p != cur {
				debug.SetGCPercent(p)
				cur = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
