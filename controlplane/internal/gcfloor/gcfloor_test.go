package gcfloor_test

import (
	"context"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/gcfloor"
)

func TestPercent(t *testing.T) {
	for _, c := range []struct {
		live uint64
		want int
	}{
		{0, 1000},                           // nothing live yet: the most
		{1 << 20, 1000},                     // 1 MiB: 6400% would be more than the bound
		{16 << 20, 400},                     // 16 MiB: the heap may grow by 64 MiB
		{32 << 20, 200},                     //
		{64 << 20, 100},                     // at Headroom: the runtime's default
		{4 << 30, 100},                      // large: never below the default
		{gcfloor.Headroom * 100 / 150, 150}, // rounding down
	} {
		if got := gcfloor.Percent(c.live); got != c.want {
			t.Errorf("Percent(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// TestRun_SetsPercentUnlessGOGC: Run raises GOGC for this test binary's small heap, and
// leaves it alone when the GOGC environment variable is set.
func TestRun_SetsPercentUnlessGOGC(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })
	t.Setenv("GOGC", "") // restored after the test
	os.Unsetenv("GOGC")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); gcfloor.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for gogc() == 100 {
		if time.Now().After(deadline) {
			t.Fatal("GOGC still 100 after Run started on a small heap")
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done

	t.Setenv("GOGC", "100")
	debug.SetGCPercent(100)
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	gcfloor.Run(ctx)
	if got := gogc(); got != 100 {
		t.Errorf("with GOGC set, Run changed GOGC to %d", got)
	}
}

// gogc reads the GOGC in effect.
func gogc() int {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return int(s[0].Value.Uint64())
}
