package backoff

import (
	"context"
	"testing"
	"testing/synctest"
	"time"
)

func TestBackoff_JitterBounds(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		ceilings []time.Duration
	}{
		{"defaults", Config{}, []time.Duration{
			100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
			800 * time.Millisecond, 1600 * time.Millisecond, 3200 * time.Millisecond,
			6400 * time.Millisecond, 10 * time.Second, 10 * time.Second,
		}},
		{"custom", Config{Min: time.Second, Max: 3 * time.Second}, []time.Duration{
			time.Second, 2 * time.Second, 3 * time.Second, 3 * time.Second,
		}},
		{"max below min", Config{Min: time.Second, Max: time.Millisecond}, []time.Duration{
			time.Second, time.Second,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := New(tt.cfg)
			for i, want := range tt.ceilings {
				if got := b.Ceiling(); got != want {
					t.Fatalf("attempt %d: Ceiling() = %v, want %v", i, got, want)
				}
				if d := b.Next(); d < 0 || d > want {
					t.Fatalf("attempt %d: Next() = %v, want within [0, %v]", i, d, want)
				}
			}
		})
	}
}

func TestBackoff_JitterSpreads(t *testing.T) {
	b := New(Config{Min: time.Second, Max: time.Second})
	var low, high int
	for range 1000 {
		switch d := b.Next(); {
		case d < 250*time.Millisecond:
			low++
		case d > 750*time.Millisecond:
			high++
		}
	}
	// Uniform over [0, 1s]: about 250 each; fail only on a grossly skewed distribution.
	if low < 150 || high < 150 {
		t.Errorf("got %d delays under 250ms and %d over 750ms of 1000, want about 250 each", low, high)
	}
}

func TestBackoff_Reset(t *testing.T) {
	b := New(Config{})
	for range 5 {
		b.Next()
	}
	b.Reset()
	if got, want := b.Ceiling(), DefaultMin; got != want {
		t.Errorf("Ceiling() after Reset = %v, want %v", got, want)
	}
}

func TestBackoff_WaitCancelled(t *testing.T) {
	b := New(Config{Min: time.Hour, Max: time.Hour})
	b.Next() // make the first Wait's ceiling an hour; a random draw near 0 is still possible
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := b.Wait(ctx); err != nil && err != context.Canceled {
		t.Errorf("Wait() = %v, want nil or %v", err, context.Canceled)
	}
}

// Wait sleeps at most the ceiling of its delay, and a cancellation ends it at once; run
// on synctest's fake clock, so hour-long delays take no real time.
func TestBackoff_WaitSleepsItsDelay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Config{Min: time.Hour, Max: time.Hour})
		start := time.Now()
		if err := b.Wait(t.Context()); err != nil {
			t.Fatalf("Wait() = %v, want nil", err)
		}
		if took := time.Since(start); took > time.Hour {
			t.Errorf("Wait() took %v, want at most the 1h ceiling", took)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- b.Wait(ctx) }()
		synctest.Wait() // Wait is asleep (or, on a draw of 0, done)
		cancel()
		if err := <-done; err != nil && err != context.Canceled {
			t.Errorf("cancelled Wait() = %v, want nil or %v", err, context.Canceled)
		}
	})
}
