package backoff

import (
	"math/rand/v2"
	"testing"
	"time"
)

// reconnectAt simulates one client whose server is unreachable from time 0 until back:
// it retries after each delay and returns when its first attempt at or after back is.
func reconnectAt(cfg Config, back time.Duration) time.Duration {
	b := New(cfg)
	at := time.Duration(0)
	for at < back {
		at += b.Next()
	}
	return at
}

// An agent partitioned for 30 s reaches the control plane again within the ceiling of
// the heal, whatever its draws: with the agent's 2 s ceiling within the 5 s catch-up
// goal, with the former 10 s ceiling not.
func TestBackoff_CatchUpAfterPartitionWithinCeiling(t *testing.T) {
	const partition = 30 * time.Second
	tests := []struct {
		name string
		max  time.Duration
	}{
		{"agent 2s ceiling", 2 * time.Second},
		{"former 10s ceiling", 10 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var worst time.Duration
			for i := range 2000 {
				cfg := Config{Max: tt.max, Rand: rand.New(rand.NewPCG(7, uint64(i)))}
				worst = max(worst, reconnectAt(cfg, partition)-partition)
			}
			if worst > tt.max {
				t.Fatalf("latest reconnection %v after the heal, want at most the %v ceiling", worst, tt.max)
			}
			if tt.max == 2*time.Second && worst > 5*time.Second-2*time.Second {
				t.Errorf("latest reconnection %v after the heal leaves under 2 s of the 5 s goal for the snapshot", worst)
			}
			t.Logf("2000 agents: latest reconnection %v after a %v partition healed", worst, partition)
		})
	}
}

// A fleet that lost its control plane at the same moment (a restart) does not come back
// in step: with full jitter under the 2 s ceiling every agent is back within the ceiling,
// and no 100 ms holds much more than twice the uniform share (fleet/20). Twice, because
// the wait from the restart to an agent's next attempt is shorter than a whole delay
// (its density at 0 is 1/mean delay = 1/1 s): the busiest rate is about fleet per second,
// in the first few hundred milliseconds.
func TestBackoff_FleetAfterRestartIsSpread(t *testing.T) {
	const (
		fleet  = 10000
		down   = 20 * time.Second
		bucket = 100 * time.Millisecond
		ceil   = 2 * time.Second
	)
	counts := map[time.Duration]int{}
	var last time.Duration
	for i := range fleet {
		at := reconnectAt(Config{Max: ceil, Rand: rand.New(rand.NewPCG(11, uint64(i)))}, down)
		counts[(at-down)/bucket]++
		last = max(last, at-down)
	}
	peak := 0
	for _, n := range counts {
		peak = max(peak, n)
	}
	share := fleet * int(bucket) / int(ceil) // uniform over the ceiling: 500 per 100 ms
	if limit := share * 22 / 10; peak > limit {
		t.Errorf("got %d of %d agents reconnecting within one 100 ms, want at most %d (2.2 times the uniform share)", peak, fleet, limit)
	}
	if last > ceil {
		t.Errorf("last agent back %v after the restart, want within the %v ceiling", last, ceil)
	}
	t.Logf("%d agents: busiest 100 ms %d reconnections (uniform %d), all back within %v", fleet, peak, share, last)
}
