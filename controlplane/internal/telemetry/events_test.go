package telemetry_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

func TestEvents_TypedWithTraceAndComponent(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	pub := publish.New(publish.Config{Client: rdb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = pub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	ev := telemetry.NewEvents(pub, telemetry.StreamNames("ns:")).For("routing")
	tc := tracectx.New()
	ev.Emit(tracectx.With(context.Background(), tc), &event.RouteChanged{Route: "web", Revision: 7})
	var nilEvents *telemetry.Events
	nilEvents.For("x").Emit(context.Background(), &event.RouteChanged{}) // a nil emitter drops

	deadline := time.Now().Add(5 * time.Second)
	for {
		msgs, _ := rdb.XRange(t.Context(), "ns:events:all:stream", "-", "+").Result()
		if len(msgs) == 1 {
			v := msgs[0].Values
			if v["event_type"] != "route_changed" || v["trace_id"] != tc.TraceIDString() || v["component"] != "routing" ||
				v["route"] != "web" || v["revision"] != "7" || v["time"] == nil {
				t.Errorf("event: got %v", v)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d events, want 1", len(msgs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
