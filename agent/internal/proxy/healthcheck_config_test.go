package proxy

import (
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestNewCheckConfig_Defaults(t *testing.T) {
	dur := durationpb.New
	tests := []struct {
		name string
		h    *edgeplanev1.HealthCheck
		want checkConfig
	}{
		{"defaults", &edgeplanev1.HealthCheck{Path: "/h"},
			checkConfig{path: "/h", lo: 200, hi: 399, interval: 10 * time.Second, timeout: 5 * time.Second, rise: 2, fall: 3}},
		{"timeout follows a short interval", &edgeplanev1.HealthCheck{Path: "/h", Interval: dur(time.Second)},
			checkConfig{path: "/h", lo: 200, hi: 399, interval: time.Second, timeout: time.Second, rise: 2, fall: 3}},
		{"max follows a high min", &edgeplanev1.HealthCheck{Path: "/h", ExpectedStatusMin: 500},
			checkConfig{path: "/h", lo: 500, hi: 500, interval: 10 * time.Second, timeout: 5 * time.Second, rise: 2, fall: 3}},
		{"out-of-bounds values clamped", &edgeplanev1.HealthCheck{Path: "/h", Interval: dur(time.Nanosecond), Timeout: dur(time.Minute),
			HealthyThreshold: 1000, JitterPercent: 500, SlowStart: dur(48 * time.Hour)},
			checkConfig{path: "/h", lo: 200, hi: 399, interval: 100 * time.Millisecond, timeout: 100 * time.Millisecond, rise: 100, fall: 3,
				jitter: 100, slowStart: time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := newCheckConfig(tt.h)
			if err != nil || !ok || got != tt.want {
				t.Errorf("newCheckConfig() = %+v, %v, %v; want %+v", got, ok, err, tt.want)
			}
		})
	}
	if _, ok, err := newCheckConfig(nil); ok || err != nil {
		t.Errorf("newCheckConfig(nil) = ok %v, err %v; want no check", ok, err)
	}
}

func TestJittered_StaysWithinPercent(t *testing.T) {
	d := time.Second
	if got := jittered(d, 0); got != d {
		t.Errorf("jittered(1s, 0) = %v, want 1s", got)
	}
	lo, hi := d, d
	for range 2000 {
		got := jittered(d, 10)
		lo, hi = min(lo, got), max(hi, got)
	}
	if lo < 900*time.Millisecond || hi > 1100*time.Millisecond || hi-lo < 100*time.Millisecond {
		t.Errorf("jittered(1s, 10) over 2000 draws: %v-%v, want within 900ms-1.1s and spread over most of it", lo, hi)
	}
}
