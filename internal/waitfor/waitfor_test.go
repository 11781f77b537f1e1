package waitfor_test

import (
	"errors"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// Eventually returns once fn succeeds, however many tries that takes.
func TestEventually_ReturnsOnSuccess(t *testing.T) {
	var calls atomic.Int32
	waitfor.Eventually(t, 10*time.Second, func() error {
		if calls.Add(1) < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if got := calls.Load(); got != 3 {
		t.Errorf("got %d calls, want 3", got)
	}
}

// A condition that never holds fails the test once the deadline passes.
func TestTrue_FailsAfterTheDeadline(t *testing.T) {
	ft := &fakeT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		waitfor.True(ft, 30*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if !ft.failed {
		t.Error("got no failure, want the test failed after the deadline")
	}
}

// fakeT records a Fatalf and ends the goroutine as testing.T would.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(string, ...any) {
	f.failed = true
	runtime.Goexit()
}
