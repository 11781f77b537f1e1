package clock

import (
	"testing"
	"time"
)

func TestParseOffset(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "5m": 5 * time.Minute, "-5m": -5 * time.Minute, "bad": 0} {
		if got := parseOffset(in); got != want {
			t.Errorf("parseOffset(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestNowMovedByOffset(t *testing.T) {
	defer func(o time.Duration) { offset = o }(offset)
	offset = 5 * time.Minute
	if d := Now().Round(0).Sub(time.Now().Round(0)); d < 4*time.Minute || d > 6*time.Minute {
		t.Errorf("Now is %v from time.Now, want about 5m", d)
	}
	start := Now()
	if d := Since(start); d < 0 || d > time.Minute {
		t.Errorf("Since a Now read = %v, want a small positive duration (monotonic)", d)
	}
}
