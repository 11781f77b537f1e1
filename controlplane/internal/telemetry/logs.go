// Package telemetry connects the control plane's logs and events to Redis Streams and keeps
// the streams bounded. Log records go to the console as before and, through a non-blocking
// publisher, to the logs streams that operators query (logs:all:stream, and
// logs:error:stream for errors). It writes and reads the telemetry keys internal/keyspace
// declares: the streams (Streams), the trace index (Index: time-bucketed postings, no key per record) and their trimming
// (Trimmer: MINID by age, MAXLEN by size), and it reads them (Reader) and watches the
// telemetry Redis (Health).
package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// Streams names the telemetry streams (declared in internal/keyspace).
type Streams = keyspace.Streams

// StreamNames returns the default namespace's stream names under prefix ("" keeps the
// names operators of the previous system query: logs:all:stream, ...). The control plane
// takes its names from its keyspace.Space; this is a shorthand for tests and tools.
func StreamNames(prefix string) Streams {
	return keyspace.New(keyspace.DefaultNamespace).WithStreamPrefix(prefix).Streams()
}

// Tee returns a handler that sends every record to console and, at or above level, to the
// logs streams through pub. Publishing never blocks the caller.
func Tee(console slog.Handler, pub *publish.Publisher, streams Streams, level slog.Leveler) slog.Handler {
	return &tee{console: console, stream: &streamHandler{pub: pub, streams: streams, level: level}}
}

type tee struct {
	console slog.Handler
	stream  *streamHandler
}

func (t *tee) Enabled(ctx context.Context, l slog.Level) bool {
	return t.console.Enabled(ctx, l) || t.stream.Enabled(ctx, l)
}

func (t *tee) Handle(ctx context.Context, r slog.Record) error {
	if t.stream.Enabled(ctx, r.Level) {
		t.stream.handle(ctx, r)
	}
	if t.console.Enabled(ctx, r.Level) {
		return t.console.Handle(ctx, r)
	}
	return nil
}

func (t *tee) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &tee{console: t.console.WithAttrs(attrs), stream: t.stream.withAttrs(attrs)}
}

func (t *tee) WithGroup(name string) slog.Handler {
	return &tee{console: t.console.WithGroup(name), stream: t.stream.withGroup(name)}
}

// streamHandler turns records into stream entries: time, level, msg, then every attribute
// (those given to With first), flattened to strings with dotted group names.
type streamHandler struct {
	pub     *publish.Publisher
	streams Streams
	level   slog.Leveler
	prefix  string // group prefix, "a.b."
	attrs   []any  // preformatted field/value pairs from WithAttrs
}

func (h *streamHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level.Level() }

func (h *streamHandler) handle(ctx context.Context, r slog.Record) {
	values := make([]any, 0, 6+len(h.attrs)+2*r.NumAttrs())
	values = append(values, "time", r.Time.UTC().Format(time.RFC3339Nano), "level", r.Level.String(), "msg", r.Message)
	tc, traced := tracectx.From(ctx)
	if traced {
		values = append(values, "trace_id", tc.TraceIDString())
	}
	values = append(values, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		values = appendAttr(values, h.prefix, a)
		return true
	})
	rec := publish.Record{Stream: h.streams.LogsAll, Values: values}
	if traced {
		rec.TraceID = tc.TraceIDString()
	}
	h.pub.Publish(rec)
	if r.Level >= slog.LevelError {
		h.pub.Publish(publish.Record{Stream: h.streams.LogsError, Values: values})
	}
}

func (h *streamHandler) withAttrs(attrs []slog.Attr) *streamHandler {
	c := *h
	c.attrs = append([]any(nil), h.attrs...)
	for _, a := range attrs {
		c.attrs = appendAttr(c.attrs, h.prefix, a)
	}
	return &c
}

func (h *streamHandler) withGroup(name string) *streamHandler {
	c := *h
	c.prefix = h.prefix + name + "."
	return &c
}

func appendAttr(values []any, prefix string, a slog.Attr) []any {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		for _, g := range v.Group() {
			values = appendAttr(values, prefix+a.Key+".", g)
		}
		return values
	}
	if a.Key == "" {
		return values
	}
	return append(values, prefix+a.Key, fmt.Sprint(v.Any()))
}
