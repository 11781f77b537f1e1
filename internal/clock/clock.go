// Package clock is the control plane's wall clock: every read of the time in the control
// plane goes through Now (and Since, Until), so a fault-injection offset can move it.
//
// The offset is a hidden fault hook for the chaos suite, not a setting: the environment
// variable EDGEPLANE_FAULT_CLOCK_OFFSET (a Go duration, "5m" or "-5m"), read once at start,
// moves this process's clock by that much. It exists because no real per-process clock skew
// can be made on one Linux machine for a Go binary: Go reads the clock through the vDSO, so
// libfaketime cannot reach it, and time namespaces do not offset CLOCK_REALTIME. Durations
// measured between two reads keep Go's monotonic reading and are not affected.
package clock

import (
	"os"
	"time"
)

// OffsetEnv names the fault-injection variable.
const OffsetEnv = "EDGEPLANE_FAULT_CLOCK_OFFSET"

var offset = parseOffset(os.Getenv(OffsetEnv))

func parseOffset(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

// Offset is the fault-injected skew (0 unless EDGEPLANE_FAULT_CLOCK_OFFSET is set).
func Offset() time.Duration { return offset }

// Now is time.Now moved by the offset.
func Now() time.Time { return time.Now().Add(offset) }

// Since is Now().Sub(t).
func Since(t time.Time) time.Duration { return Now().Sub(t) }

// Until is t.Sub(Now()).
func Until(t time.Time) time.Duration { return t.Sub(Now()) }
