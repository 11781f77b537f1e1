package logging

import (
	"context"
	"log/slog"

	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// traceHandler adds the trace id of the record's context, so callers never format it in.
type traceHandler struct{ slog.Handler }

func (h traceHandler) Handle(ctx context.Context, r slog.Record) error {
	if tc, ok := tracectx.From(ctx); ok {
		r.AddAttrs(slog.String("trace_id", tc.TraceIDString()))
	}
	return h.Handler.Handle(ctx, r)
}

func (h traceHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return traceHandler{h.Handler.WithAttrs(attrs)}
}

func (h traceHandler) WithGroup(name string) slog.Handler {
	return traceHandler{h.Handler.WithGroup(name)}
}
