package procs

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestNext(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cur, max, low int
		used          float64
		want, wantLow int
	}{
		{"busy one P doubles", 1, 8, 0, 0.95, 2, 0},
		{"busy Ps double up to max", 4, 6, 0, 3.9, 6, 0},
		{"busy at max stays", 2, 2, 0, 2.0, 2, 0},
		{"moderate load stays on one P", 1, 2, 0, 0.7, 1, 0},
		{"between the thresholds stays", 2, 2, 3, 0.7, 2, 0},
		{"low load counts down", 2, 2, 3, 0.3, 2, 4},
		{"low load long enough drops one P", 2, 2, shrinkAfter - 1, 0.3, 1, 0},
		{"one P never drops", 1, 2, shrinkAfter, 0.0, 1, 0},
		{"a busy interval resets the count", 3, 4, 5, 2.8, 4, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, low := next(tc.cur, tc.max, tc.used, tc.low)
			if got != tc.want || low != tc.wantLow {
				t.Errorf("next(%d, %d, %.2f, %d) = %d, %d; want %d, %d", tc.cur, tc.max, tc.used, tc.low, got, low, tc.want, tc.wantLow)
			}
		})
	}
}

// TestTunerFollowsLoad drives the tuner with a fake clock and CPU counter: it starts on one
// P, doubles while the Ps it has are busy, and gives one back only after shrinkAfter quiet
// intervals.
func TestTunerFollowsLoad(t *testing.T) {
	var cpu atomic.Int64
	at := time.Unix(0, 0)
	var sets []int
	tick := make(chan time.Time)
	tn := &tuner{max: 4, cur: 1, cpu: func() time.Duration { return time.Duration(cpu.Load()) }, set: func(n int) { sets = append(sets, n) }}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := at
	go func() { tn.run(ctx, start, tick); close(done) }()
	step := func(cores float64) { // one interval during which the process used cores CPUs
		cpu.Add(int64(cores * float64(interval)))
		at = at.Add(interval)
		tick <- at
	}
	step(0) // the first tick after start: nothing changes
	step(1.0)
	step(2.0)
	step(3.0) // 4 Ps now
	for range shrinkAfter - 1 {
		step(0.5)
	}
	step(0.5)  // the tenth quiet interval: one P goes
	tick <- at // a zero-length interval is skipped
	cancel()
	<-done
	want := []int{1, 2, 4, 3}
	if len(sets) != len(want) {
		t.Fatalf("GOMAXPROCS set to %v, want %v", sets, want)
	}
	for i := range want {
		if sets[i] != want[i] {
			t.Fatalf("GOMAXPROCS set to %v, want %v", sets, want)
		}
	}
}

// TestRunKeepsOperatorsGOMAXPROCS: with GOMAXPROCS in the environment, Run changes nothing.
func TestRunKeepsOperatorsGOMAXPROCS(t *testing.T) {
	t.Setenv("GOMAXPROCS", "3")
	if Tuning() {
		t.Fatal("Tuning() with GOMAXPROCS set")
	}
}
