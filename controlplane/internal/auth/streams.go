package auth

import (
	"fmt"
	"sync"
)

// StreamLimiter caps the long-lived read streams (TailEvents, StreamServiceLogs) each
// principal holds at once. It is safe for concurrent use.
type StreamLimiter struct {
	max int

	mu   sync.Mutex     // guards open
	open map[string]int // streams held, by principal
}

// NewStreamLimiter allows max streams per principal (max <= 0: 8).
func NewStreamLimiter(max int) *StreamLimiter {
	if max <= 0 {
		max = 8
	}
	return &StreamLimiter{max: max, open: make(map[string]int)}
}

// Acquire takes one of who's streams, or fails with ErrTooManyStreams. Call release when the
// stream ends.
func (l *StreamLimiter) Acquire(who Principal) (release func(), err error) {
	key := who.Via + ":" + who.Name
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key] >= l.max {
		return nil, fmt.Errorf("%s %q holds %d streams, the most allowed at once: %w", who.Via, who.Name, l.max, ErrTooManyStreams)
	}
	l.open[key]++
	var once sync.Once
	return func() { once.Do(func() { l.release(key) }) }, nil
}

func (l *StreamLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[key]--; l.open[key] <= 0 {
		delete(l.open, key)
	}
}
