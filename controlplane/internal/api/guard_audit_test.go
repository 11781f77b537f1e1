package api

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// traceOf returns the x-trace-id the server sent with a call.
func traceOf(header, trailer metadata.MD) string {
	if v := header.Get(TraceIDHeader); len(v) > 0 {
		return v[0]
	}
	if v := trailer.Get(TraceIDHeader); len(v) > 0 {
		return v[0]
	}
	return ""
}

func TestGuard_AuditEvents(t *testing.T) {
	e := newGuardEnv(t, 8, tls.VerifyClientCertIfGiven)
	conn := e.dial(t)
	tokens := edgeplanev1.NewTokenServiceClient(conn)
	routes := edgeplanev1.NewRoutingServiceClient(conn)
	ctx := t.Context()
	type audit = map[string]string
	var want []audit
	expect := func(err error, wantCode codes.Code, h, tr metadata.MD, a audit) {
		t.Helper()
		if status.Code(err) != wantCode {
			t.Fatalf("%s: got %v, want %v", a["method"], err, wantCode)
		}
		a["trace_id"] = traceOf(h, tr)
		if a["trace_id"] == "" {
			t.Fatalf("%s: no %s in the response", a["method"], TraceIDHeader)
		}
		want = append(want, a)
	}
	var h, tr metadata.MD
	_, err := tokens.CreateToken(withToken(ctx, e.secrets["admin"]), &edgeplanev1.CreateTokenRequest{Name: "ci", Role: "viewer"},
		grpc.Header(&h), grpc.Trailer(&tr))
	expect(err, codes.OK, h, tr, audit{"principal": "the-admin", "via": "token", "role": "admin",
		"method": "/edgeplane.v1.TokenService/CreateToken", "resource": "ci", "outcome": "ok"})
	_, err = routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: &edgeplanev1.Route{Name: "web"}}, grpc.Header(&h), grpc.Trailer(&tr))
	expect(err, codes.Unauthenticated, h, tr, audit{"principal": "anonymous", "via": "", "role": "",
		"method": "/edgeplane.v1.RoutingService/CreateRoute", "resource": "web", "outcome": "Unauthenticated"})
	_, err = routes.DeleteRoute(withToken(ctx, e.secrets["viewer"]), &edgeplanev1.DeleteRouteRequest{Name: "web"}, grpc.Header(&h), grpc.Trailer(&tr))
	expect(err, codes.PermissionDenied, h, tr, audit{"principal": "the-viewer", "via": "token", "role": "viewer",
		"method": "/edgeplane.v1.RoutingService/DeleteRoute", "resource": "web", "outcome": "PermissionDenied"})
	_, err = tokens.DeleteToken(withToken(ctx, e.secrets["admin"]), &edgeplanev1.DeleteTokenRequest{Name: "nope"}, grpc.Header(&h), grpc.Trailer(&tr))
	expect(err, codes.NotFound, h, tr, audit{"principal": "the-admin", "via": "token", "role": "admin",
		"method": "/edgeplane.v1.TokenService/DeleteToken", "resource": "nope", "outcome": "NotFound"})
	// Accepted reads are not audited.
	if _, err := tokens.ListTokens(withToken(ctx, e.secrets["admin"]), &edgeplanev1.ListTokensRequest{}); err != nil {
		t.Fatal(err)
	}
	var got []audit
	eventually(t, 10*time.Second, func() error {
		got = e.audits(ctx)
		if len(got) < len(want) {
			return fmt.Errorf("%d audit events so far, want %d", len(got), len(want))
		}
		return nil
	})
	for _, a := range got {
		if a["peer"] == "" || a["component"] != "api" {
			t.Errorf("audit event %v lacks its peer or component", a)
		}
		delete(a, "peer")
		delete(a, "time")
		delete(a, "component")
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events (-want +got):\n%s", diff)
	}
}

// audits reads the audit events back from the events stream.
func (e *guardEnv) audits(ctx context.Context) []map[string]string {
	msgs, err := e.rdb.XRange(ctx, e.events, "-", "+").Result()
	if err != nil {
		return nil
	}
	var out []map[string]string
	for _, m := range msgs {
		if m.Values["event_type"] != "audit" {
			continue
		}
		a := map[string]string{}
		for k, v := range m.Values {
			if k != "event_type" {
				a[k] = fmt.Sprint(v)
			}
		}
		out = append(out, a)
	}
	return out
}

func TestGuard_StreamsPerPrincipal(t *testing.T) {
	e := newGuardEnv(t, 2, tls.VerifyClientCertIfGiven)
	conn := e.dial(t)
	const tail = "/edgeplane.v1.TelemetryService/TailEvents"
	open := func(ctx context.Context, secret string) (context.CancelFunc, error) {
		ctx, cancel := context.WithCancel(metadata.AppendToOutgoingContext(withToken(ctx, secret), "x-hold", "1"))
		s, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, tail)
		if err != nil {
			cancel()
			return nil, err
		}
		_ = s.SendMsg(&edgeplanev1.TailEventsRequest{})
		_ = s.CloseSend()
		// A held stream sends its headers; a refused one ends with its status alone.
		if h, err := s.Header(); err == nil && len(h.Get("x-held")) > 0 {
			return cancel, nil
		}
		defer cancel()
		if err = s.RecvMsg(&edgeplanev1.TailEventsResponse{}); err == nil {
			err = fmt.Errorf("stream answered instead of being held")
		}
		return nil, err
	}
	ctx := t.Context()
	viewer := e.secrets["viewer"]
	first, err := open(ctx, viewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(ctx, viewer); err != nil {
		t.Fatal(err)
	}
	if _, err := open(ctx, viewer); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("third stream: got %v, want ResourceExhausted", err)
	}
	if _, err := open(ctx, e.secrets["admin"]); err != nil {
		t.Fatalf("another principal's stream: %v", err)
	}
	first()
	eventually(t, 10*time.Second, func() error {
		cancel, err := open(ctx, viewer)
		if err == nil {
			cancel()
		}
		return err
	})
}

var eventually = waitfor.Eventually
