package api

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// Guard holds the interceptors that authenticate every call, authorize it by the method
// table, cap each caller's concurrent read streams and audit writes and refusals. Refused
// calls never reach a handler. Chain them after Interceptors, so refusals carry a trace id.
type Guard struct {
	// Auth says who is calling. Required.
	Auth *auth.Authenticator
	// Policy is the method table. Required.
	Policy *auth.Policy
	// Streams caps TailEvents and StreamServiceLogs per principal. Required.
	Streams *auth.StreamLimiter
	// Audit receives event.Audit events (telemetry.Events.Emit). Nil: none.
	Audit func(ctx context.Context, e event.Event)
	// AnonymousAudits bounds the audit events of calls refused before the caller was known
	// (per second, with a burst of twice that), so a flood of unauthenticated calls cannot
	// push real audit events out of the stream. Zero: 100.
	AnonymousAudits float64
	// Registerer, when set, gets edgeplane_audit_suppressed_total: the refusals not audited
	// because of AnonymousAudits.
	Registerer prometheus.Registerer

	anonymous  *rate.Limiter
	suppressed prometheus.Counter
}

// maxAuditResource bounds the resource name an audit event repeats from a request.
const maxAuditResource = 128

// ServerOptions returns the unary and stream interceptors. Call it once.
func (g *Guard) ServerOptions() []grpc.ServerOption {
	if g.AnonymousAudits <= 0 {
		g.AnonymousAudits = 100
	}
	g.anonymous = rate.NewLimiter(rate.Limit(g.AnonymousAudits), int(2*g.AnonymousAudits))
	g.suppressed = prometheus.NewCounter(prometheus.CounterOpts{Name: "edgeplane_audit_suppressed_total",
		Help: "Calls refused before authentication that were not audited, beyond the anonymous audit rate."})
	if g.Registerer != nil {
		g.Registerer.MustRegister(g.suppressed)
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(g.unary), grpc.ChainStreamInterceptor(g.stream)}
}

func (g *Guard) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	who, rule, release, err := g.admit(ctx, info.FullMethod)
	if err != nil {
		g.audit(ctx, who, info.FullMethod, req, err)
		return nil, err
	}
	defer release()
	res, err := h(auth.NewContext(ctx, who), req)
	if rule.Write {
		g.audit(ctx, who, info.FullMethod, req, err)
	}
	return res, err
}

func (g *Guard) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	ctx := ss.Context()
	who, rule, release, err := g.admit(ctx, info.FullMethod)
	if err != nil {
		g.audit(ctx, who, info.FullMethod, nil, err)
		return err
	}
	defer release()
	err = h(srv, &tracedStream{ServerStream: ss, ctx: auth.NewContext(ctx, who)})
	if rule.Write {
		g.audit(ctx, who, info.FullMethod, nil, err)
	}
	return err
}

// anonymous names a caller that did not authenticate, in audit events.
var anonymous = auth.Principal{Name: "anonymous"}

// admit decides whether the call may proceed. The error is a status error; release must be
// called when the call ends.
func (g *Guard) admit(ctx context.Context, method string) (auth.Principal, auth.Rule, func(), error) {
	none := func() {}
	rule, known := g.Policy.Rule(method)
	if rule.Open {
		return anonymous, rule, none, nil
	}
	who, err := g.Auth.Authenticate(ctx)
	if err != nil {
		return anonymous, rule, none, authStatus(err)
	}
	if g.Auth.Enforced() {
		if rule, err = g.Policy.Authorize(who, method); err != nil {
			return who, rule, none, authStatus(err)
		}
	} else if !known {
		rule.Write = true // audit what the table does not know
	}
	if !rule.Stream {
		return who, rule, none, nil
	}
	release, err := g.Streams.Acquire(who)
	if err != nil {
		return who, rule, none, authStatus(err)
	}
	return who, rule, release, nil
}

// authStatus maps the auth package's errors to status codes.
func authStatus(err error) error {
	switch {
	case errors.Is(err, auth.ErrUnauthenticated):
		return status.Error(codes.Unauthenticated, err.Error())
	case errors.Is(err, auth.ErrPermissionDenied):
		return status.Error(codes.PermissionDenied, err.Error())
	case errors.Is(err, auth.ErrTooManyStreams):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, model.ErrUnavailable):
		return status.Error(codes.Unavailable, err.Error())
	}
	return toStatus(err)
}

// audit emits one audit event for a call that ended with err (nil: ok).
func (g *Guard) audit(ctx context.Context, who auth.Principal, method string, req any, err error) {
	if g.Audit == nil {
		return
	}
	if who.Via == "" && g.anonymous != nil && !g.anonymous.Allow() {
		g.suppressed.Inc()
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = status.Code(err).String()
	}
	remote := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		remote = p.Addr.String()
	}
	g.Audit(ctx, &event.Audit{Principal: who.Name, Via: who.Via, Role: string(who.Role),
		Method: method, Resource: resourceName(req), Outcome: outcome, Peer: remote})
}

// resourceName is the request's name field, or the name field of its first set message
// field (CreateRouteRequest.route.name); "" if it has neither.
func resourceName(req any) string {
	m, ok := req.(proto.Message)
	if !ok || m == nil {
		return ""
	}
	r := m.ProtoReflect()
	name := nameField(r)
	fields := r.Descriptor().Fields()
	for i := 0; name == "" && i < fields.Len(); i++ {
		if f := fields.Get(i); f.Kind() == protoreflect.MessageKind && f.Cardinality() != protoreflect.Repeated && r.Has(f) {
			name = nameField(r.Get(f).Message())
		}
	}
	if len(name) > maxAuditResource {
		name = name[:maxAuditResource] + "..."
	}
	return name
}

func nameField(m protoreflect.Message) string {
	f := m.Descriptor().Fields().ByName("name")
	if f == nil || f.Kind() != protoreflect.StringKind || f.Cardinality() == protoreflect.Repeated {
		return ""
	}
	return m.Get(f).String()
}
