// Package procs runs the agent on as few Ps (GOMAXPROCS) as its load needs, growing to the
// runtime's default (one per CPU the process may use) when those it has are busy.
//
// Why: with more Ps than busy ones, the Go scheduler keeps waking idle threads for every
// goroutine the netpoller readies (a futex wake, a context switch and a spinning thread that
// then sleeps again), which on a proxy that waits on sockets for most of each request costs
// more CPU per request than the request's own work. Measured on the 2-CPU bench machine
// (bench/peers, wrk -c64 through the agent, tracing off): the agent spends ~20% less CPU per
// request on 1 P than on 2 while it needs less than one CPU. Under more load the Ps it has
// are busy, and it gets more within one interval, doubling up to the default.
//
// The process's CPU time (getrusage) over each interval is the measure: at or above growAt
// of the Ps it has, they are busy (the count doubles); below shrinkAt of one P fewer for
// shrinkAfter intervals in a row, one P goes. An operator's GOMAXPROCS environment variable
// turns the tuning off: the runtime keeps what it says.
package procs

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"syscall"
	"time"
)

const (
	// interval is how often the CPU used is read and the P count reconsidered.
	interval = 100 * time.Millisecond
	// growAt: the Ps are busy when the process used this share of them over an interval.
	growAt = 0.9
	// shrinkAt: one P goes when the rest would have been busy less than this share of the
	// time, shrinkAfter intervals in a row.
	shrinkAt    = 0.6
	shrinkAfter = 10
)

// next returns the P count for the coming interval: cur is the current count, max the
// most there may be, used the CPU the process used over the last interval (in CPUs), low
// how many intervals in a row it was low enough to shrink (returned updated).
func next(cur, max int, used float64, low int) (int, int) {
	switch {
	case used >= growAt*float64(cur) && cur < max:
		return min(2*cur, max), 0
	case cur > 1 && used < shrinkAt*float64(cur-1):
		if low+1 >= shrinkAfter {
			return cur - 1, 0
		}
		return cur, low + 1
	}
	return cur, 0
}

// Tuning reports whether Run adjusts GOMAXPROCS: not when the GOMAXPROCS environment
// variable sets it, nor when the runtime's default is one P.
func Tuning() bool {
	_, set := os.LookupEnv("GOMAXPROCS")
	return !set && runtime.GOMAXPROCS(0) > 1
}

// Run tunes GOMAXPROCS until ctx ends (then it restores the runtime's default), starting
// from one P. It returns at once when Tuning is false.
func Run(ctx context.Context, log *slog.Logger) {
	if !Tuning() {
		return
	}
	max := runtime.GOMAXPROCS(0)
	t := tuner{max: max, cur: 1, cpu: cpuTime, set: func(n int) { runtime.GOMAXPROCS(n) }}
	defer runtime.GOMAXPROCS(max)
	log.Debug("tuning GOMAXPROCS to the load", "max", max)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	t.run(ctx, time.Now(), tick.C)
}

// tuner is Run's state, with the clock, the CPU counter and the setter replaceable in tests.
type tuner struct {
	max, cur, low int
	cpu           func() time.Duration // the process's CPU time so far
	set           func(int)            // runtime.GOMAXPROCS
}

// run sets the starting count, then reconsiders it at every tick (the tick's time is the
// clock), starting at start.
func (t *tuner) run(ctx context.Context, start time.Time, tick <-chan time.Time) {
	t.set(t.cur)
	lastCPU, lastAt := t.cpu(), start
	for {
		var at time.Time
		select {
		case <-ctx.Done():
			return
		case at = <-tick:
		}
		c := t.cpu()
		wall := at.Sub(lastAt)
		if wall <= 0 {
			continue
		}
		used := float64(c-lastCPU) / float64(wall)
		lastCPU, lastAt = c, at
		n, low := next(t.cur, t.max, used, t.low)
		t.low = low
		if n != t.cur {
			t.cur = n
			t.set(n)
		}
	}
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
