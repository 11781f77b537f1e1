package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// Event types (DESIGN.md, "Telemetry").
const (
	RouteChanged         = "route_changed"
	AgentConnected       = "agent_connected"
	AgentDisconnected    = "agent_disconnected"
	ConfigRejected       = "config_rejected"
	CertificateRequested = "certificate_requested"
	CertificateReady     = "certificate_ready"
	CertificateFailed    = "certificate_failed"
	CertificateExpiring  = "certificate_expiring"
	ServiceCreated       = "service_created"
	ServiceStarted       = "service_started"
	ServiceStopped       = "service_stopped"
	ServiceDied          = "service_died"
	ServiceDeleted       = "service_deleted"
	PortAllocated        = "port_allocated"
	PortReleased         = "port_released"
	AlertFired           = "alert_fired"
	AlertResolved        = "alert_resolved"
	// TargetUnhealthy and TargetHealthy report a route's target changing health on one
	// agent: node_id, route, target, and reason (unhealthy only).
	TargetUnhealthy = "target_unhealthy"
	TargetHealthy   = "target_healthy"
	// Audit records an admin write, accepted or refused, or any refused call: principal,
	// via, role, method, resource, outcome ("ok" or the gRPC code) and peer (api/guard.go).
	Audit = "audit"
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

// Emit publishes one event: event_type, trace_id (from ctx, or a new trace), component and
// time, then the event's own fields.
func (e *Events) Emit(ctx context.Context, eventType string, attrs ...slog.Attr) {
	if e == nil {
		return
	}
	tc, ok := tracectx.From(ctx)
	if !ok {
		tc = tracectx.New()
	}
	values := make([]any, 0, 8+2*len(attrs))
	values = append(values, "event_type", eventType, "trace_id", tc.TraceIDString(),
		"component", e.component, "time", time.Now().UTC().Format(time.RFC3339Nano))
	for _, a := range attrs {
		values = append(values, a.Key, fmt.Sprint(a.Value.Resolve().Any()))
	}
	e.pub.Publish(publish.Record{Stream: e.streams.Events, Values: values, TraceID: tc.TraceIDString()})
}
