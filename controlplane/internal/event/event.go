// Package event defines the control plane's domain events: one Go type per kind, each with
// the fields it carries on the events stream (events:all:stream). Emitters build the type
// (telemetry.Events.Emit writes it), consumers read it back with Parse, so both sides agree
// on every field's name and encoding, as internal/requestlog does for request records.
//
// On the stream an event is a flat entry: event_type, trace_id, component and time (the
// Header, stamped by the emitter), then the kind's own fields as strings. Times are RFC
// 3339 (UTC, nanoseconds), durations Go's time.Duration strings, booleans "true"/"false".
package event

import (
	"errors"
	"fmt"
	"log/slog"
)

// Event is one domain event of a kind below.
type Event interface {
	// Type is the event_type on the stream ("route_changed", ...).
	Type() string
	// visit hands each field, by name, to c: to encode or to decode.
	visit(c codec)
}

// Header is what every event carries besides its own fields.
type Header struct {
	Type, TraceID, Component string
	Time                     string // RFC 3339, as written
}

// Entry returns a stream entry's field/value pairs: h's (Type is taken from e), then e's.
func Entry(h Header, e Event) []any {
	return append([]any{"event_type", e.Type(), "trace_id", h.TraceID, "component", h.Component, "time", h.Time},
		Values(e)...)
}

// Attrs returns e's own fields as attributes (for logs), in declaration order.
func Attrs(e Event) []slog.Attr {
	var enc encoder
	e.visit(&enc)
	return enc.attrs
}

// Values returns e's own fields as a stream entry's field/value pairs.
func Values(e Event) []any {
	var enc encoder
	e.visit(&enc)
	values := make([]any, 0, 2*len(enc.attrs))
	for _, a := range enc.attrs {
		values = append(values, a.Key, a.Value.String())
	}
	return values
}

// ErrUnknown: an entry's event_type names no kind of this package.
var ErrUnknown = errors.New("unknown event type")

// ErrMalformed: a field does not parse as its kind declares.
var ErrMalformed = errors.New("malformed event")

// Parse reads a stream entry's values: its header and its typed event. A kind's missing
// fields stay zero (older emitters may lack newer fields); a field that does not parse is
// ErrMalformed; an event_type of no kind is ErrUnknown, with the header filled.
func Parse(values map[string]any) (Header, Event, error) {
	str := func(k string) string { s, _ := values[k].(string); return s }
	h := Header{Type: str("event_type"), TraceID: str("trace_id"), Component: str("component"), Time: str("time")}
	newKind, ok := kinds[h.Type]
	if !ok {
		return h, nil, fmt.Errorf("%w %q", ErrUnknown, h.Type)
	}
	e := newKind()
	dec := decoder{values: values}
	e.visit(&dec)
	return h, e, dec.err
}

// kinds makes an empty event of each type.
var kinds = map[string]func() Event{}

// register records kind's constructor; each kind's file calls it once.
func register[T any, P interface {
	*T
	Event
}]() struct{} {
	kinds[P(new(T)).Type()] = func() Event { return P(new(T)) }
	return struct{}{}
}

// Types returns every registered event type.
func Types() []string {
	out := make([]string, 0, len(kinds))
	for t := range kinds {
		out = append(out, t)
	}
	return out
}
