package telemetry

import (
	"context"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/internal/clock"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// Events publishes typed domain events to the events stream. A nil *Events drops them, so
// components may hold one unconditionally. Emit never blocks.
type Events struct {
	pub       *publish.Publisher
	streams   Streams
	component string
}

// NewEvents returns an emitter writing to streams.Events through pub.
func NewEvents(pub *publish.Publisher, streams Streams) *Events {
	return &Events{pub: pub, streams: streams}
}

// For returns an emitter that stamps events with component.
func (e *Events) For(component string) *Events {
	if e == nil {
		return nil
	}
	c := *e
	c.component = component
	return &c
}

// Emit publishes one event (package event defines the kinds): event_type, trace_id (from
// ctx, or a new trace), component and time, then the event's own fields.
func (e *Events) Emit(ctx context.Context, ev event.Event) {
	if e == nil {
		return
	}
	tc, ok := tracectx.From(ctx)
	if !ok {
		tc = tracectx.New()
	}
	values := event.Entry(event.Header{TraceID: tc.TraceIDString(), Component: e.component,
		Time: clock.Now().UTC().Format(time.RFC3339Nano)}, ev)
	e.pub.Publish(publish.Record{Stream: e.streams.Events, Values: values, TraceID: tc.TraceIDString()})
}
