package certs

import (
	"testing"
	"time"
)

func TestRenewTime_AThirdOfTheLifetimeBeforeExpiryLessJitter(t *testing.T) {
	nb := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	na := nb.Add(90 * 24 * time.Hour)
	latest, earliest := na.Add(-30*24*time.Hour), na.Add(-30*24*time.Hour-90*24*time.Hour/20)
	for range 100 {
		if got := renewTime(nb, na); got.After(latest) || got.Before(earliest) {
			t.Fatalf("renewTime: got %s, want between %s and %s", got, earliest, latest)
		}
	}
}

func TestRetryDelay_DoublesUpToMax(t *testing.T) {
	m := New(Config{RetryMin: time.Minute, RetryMax: 10 * time.Minute})
	tests := []struct {
		failures int32
		want     time.Duration
	}{{1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {4, 8 * time.Minute}, {5, 10 * time.Minute}, {40, 10 * time.Minute}}
	for _, tt := range tests {
		got := m.retryDelay(tt.failures)
		if got < tt.want*9/10 || got > tt.want*11/10 {
			t.Errorf("retryDelay(%d): got %s, want %s ±10%%", tt.failures, got, tt.want)
		}
	}
}
