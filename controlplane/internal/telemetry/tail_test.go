package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// A caller's deadline ends TailEvents cleanly, never as a read error: with a Redis client
// that honours context deadlines (as the control plane's does) a read blocking up to the
// deadline used to fail with "i/o timeout" a moment before ctx said it was done, and the
// dashboard's Alerts page answered 503. Events written before the deadline are delivered.
func TestReader_TailEventsEndsAtTheCallersDeadline(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	streams := telemetry.StreamNames("")
	if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: streams.Events, Values: []any{"event_type", "alert_fired"}}).Err(); err != nil {
		t.Fatal(err)
	}
	r := &telemetry.Reader{Client: rdb, Blocking: rdb, Streams: streams}
	for i := range 20 {
		timeout := time.Duration(20+i*15) * time.Millisecond // 20 ms (inside the margin) to 305 ms
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		got := 0
		err := r.TailEvents(ctx, telemetry.EventFilter{AfterID: "0"}, func(telemetry.Entry) error { got++; return nil })
		cancel()
		if err != nil {
			t.Fatalf("deadline %v: TailEvents() = %v, want nil (the deadline ends the tail)", timeout, err)
		}
		if timeout > 100*time.Millisecond && got != 1 {
			t.Errorf("deadline %v: got %d events, want the 1 written before", timeout, got)
		}
	}
}
