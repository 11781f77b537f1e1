package api

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/internal/clock"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// TraceIDHeader is the response metadata key carrying the call's trace id.
const TraceIDHeader = "x-trace-id"

// Interceptors continue the caller's W3C trace (the traceparent metadata) or start one, put
// it in the handler's context (so every log line of the call carries trace_id), return the
// trace id in the response metadata (x-trace-id and traceparent), and log each call with its
// method, code and duration. Health checks and reflection are logged at debug level.
//
// Calls are also counted in reg (edgeplane_grpc_requests_total{method,code} and
// edgeplane_grpc_request_duration_seconds{method}) when reg is not nil.
func Interceptors(log *slog.Logger, reg prometheus.Registerer) []grpc.ServerOption {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "grpc")
	calls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "edgeplane_grpc_requests_total",
		Help: "gRPC calls handled, by method and status code."}, []string{"method", "code"})
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "edgeplane_grpc_request_duration_seconds",
		Help: "gRPC call duration (unary calls; streams until they end).", Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10)},
		[]string{"method"})
	if reg != nil {
		reg.MustRegister(calls, took)
	}
	done := func(ctx context.Context, method string, start time.Time, err error) {
		logCall(ctx, log, method, start, err)
		calls.WithLabelValues(method, status.Code(err).String()).Inc()
		took.WithLabelValues(method).Observe(clock.Since(start).Seconds())
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, start := begin(ctx)
			hctx, cancel := storeDeadline(ctx)
			res, err := h(hctx, req)
			cancel()
			err = outOfTime(ctx, hctx, err)
			done(ctx, info.FullMethod, start, err)
			return res, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, start := begin(ss.Context())
			err := h(srv, &tracedStream{ServerStream: ss, ctx: ctx})
			done(ctx, info.FullMethod, start, err)
			return err
		}),
	}
}

// Deadline margins: a unary handler (and every store call it makes) gets the client's
// deadline minus a tenth of the time left, at most maxMargin, so that a store that does not
// answer fails the call with Unavailable while the client still waits for the answer.
const maxMargin = 250 * time.Millisecond

// storeDeadline returns ctx with the handler's deadline, earlier than the client's. Without a
// client deadline ctx is returned as it is: the Redis client's own timeouts then bound each
// store call.
func storeDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	// Context deadlines are on the process's real clock, not clock's (which a fault offset
	// may move), so the time left is measured on it.
	return context.WithDeadline(ctx, d.Add(-min(time.Until(d)/10, maxMargin)))
}

// outOfTime turns a handler's failure into Unavailable when the handler ran out of its own
// (shortened) time while the client's was left: the handler was waiting on the store, so
// Redis did not answer in time and the client should retry, on another replica if it can.
func outOfTime(ctx, hctx context.Context, err error) error {
	if err == nil || hctx.Err() == nil || ctx.Err() != nil || !errors.Is(hctx.Err(), context.DeadlineExceeded) {
		return err
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.Unavailable, codes.Unknown, codes.Internal:
		return status.Error(codes.Unavailable, "redis unreachable: the state store did not answer in time: "+status.Convert(err).Message())
	}
	return err
}

func begin(ctx context.Context) (context.Context, time.Time) {
	tc, ok := tracectx.Context{}, false
	if md, found := metadata.FromIncomingContext(ctx); found {
		if v := md.Get(tracectx.Header); len(v) > 0 {
			tc, ok = tracectx.Parse(v[0])
		}
	}
	if ok {
		tc = tc.Child()
	} else {
		tc = tracectx.New()
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs(TraceIDHeader, tc.TraceIDString(), tracectx.Header, tc.String()))
	return tracectx.With(ctx, tc), clock.Now()
}

// logCall logs one finished call: at info when it succeeded or the caller went away, at warn
// with the error text when it was refused (the caller's mistake: InvalidArgument, NotFound,
// Aborted, PermissionDenied, ...), at error when the server failed (Internal, Unavailable,
// Unknown, DataLoss, DeadlineExceeded), which puts it on logs:error:stream too. Health checks
// and reflection are logged at debug level whatever their outcome.
func logCall(ctx context.Context, log *slog.Logger, method string, start time.Time, err error) {
	code := status.Code(err)
	level := callLevel(code)
	if strings.HasPrefix(method, "/grpc.health.") || strings.HasPrefix(method, "/grpc.reflection.") {
		level = slog.LevelDebug
	}
	attrs := []slog.Attr{slog.String("method", method), slog.String("code", code.String()), slog.Duration("duration", clock.Since(start))}
	if code != codes.OK && code != codes.Canceled {
		attrs = append(attrs, slog.String("error", status.Convert(err).Message()))
	}
	log.LogAttrs(ctx, level, "rpc", attrs...)
}

func callLevel(code codes.Code) slog.Level {
	switch code {
	case codes.OK, codes.Canceled:
		return slog.LevelInfo
	case codes.Internal, codes.Unknown, codes.Unavailable, codes.DataLoss, codes.DeadlineExceeded, codes.Unimplemented:
		return slog.LevelError
	}
	return slog.LevelWarn
}

// tracedStream gives a stream handler the traced context. It keeps a context in a struct
// (against STYLE, necessarily): grpc.ServerStream hands its handler the context through
// its Context method, so a wrapper that changes the context must hold it.
type tracedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *tracedStream) Context() context.Context { return s.ctx }
