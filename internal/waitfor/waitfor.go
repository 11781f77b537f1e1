// Package waitfor lets tests wait on a condition instead of sleeping "long enough": it polls
// the condition every few milliseconds until it holds, and fails the test with the last
// reason when a deadline passes. The deadline bounds a hang; it is not a timing assertion.
package waitfor

import (
	"fmt"
	"testing"
	"time"
)

// poll is the pause between two checks.
const poll = 10 * time.Millisecond

// Eventually calls fn until it returns nil, failing t with fn's last error once timeout has
// passed.
func Eventually(t testing.TB, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(poll)
	}
}

// True waits until cond holds, failing t after timeout with "timed out waiting for what".
func True(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	Eventually(t, timeout, func() error {
		if !cond() {
			return fmt.Errorf("timed out waiting for %s", what)
		}
		return nil
	})
}
