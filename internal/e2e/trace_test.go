package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// An admin call continues the caller's traceparent: the trace id comes back in the response
// metadata and is on the control plane's log line for the call.
func TestRPC_ContinuesTraceAndLogsIt(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	tc := tracectx.New()
	ctx := metadata.AppendToOutgoingContext(t.Context(), tracectx.Header, tc.String())
	var hdr metadata.MD
	_, err := cp.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route("web", "web.test", "http://127.0.0.1:1")}, grpc.Header(&hdr))
	if err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("x-trace-id"); len(got) != 1 || got[0] != tc.TraceIDString() {
		t.Errorf("x-trace-id: got %v, want %s", got, tc.TraceIDString())
	}
	eventually(t, 5*time.Second, func() error {
		for _, rec := range cp.Logs("rpc") {
			if rec["trace_id"] == tc.TraceIDString() && rec["method"] == "/edgeplane.v1.RoutingService/CreateRoute" && rec["code"] == "OK" {
				return nil
			}
		}
		return errorf("no rpc log line with trace_id %s", tc.TraceIDString())
	})
	// Without a traceparent a trace is started.
	hdr = nil
	if _, err := cp.Routes().GetRoute(t.Context(), &edgeplanev1.GetRouteRequest{Name: "web"}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get("traceparent"); len(got) != 1 {
		t.Errorf("traceparent header: got %v, want a new trace", got)
	} else if _, ok := tracectx.Parse(got[0]); !ok {
		t.Errorf("traceparent header %q does not parse", got[0])
	}
}

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

// Writes and agents produce typed events on events:all:stream, the write's carrying the
// caller's trace id; logs reach logs:all:stream.
func TestEvents_AndLogsReachTheStreams(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	tc := tracectx.New()
	ctx := metadata.AppendToOutgoingContext(t.Context(), tracectx.Header, tc.String())
	if _, err := cp.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route("web", "web.test", "http://127.0.0.1:1")}); err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	eventually(t, 10*time.Second, func() error {
		msgs, err := rdb.XRange(t.Context(), "events:all:stream", "-", "+").Result()
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, m := range msgs {
			seen[fmt.Sprint(m.Values["event_type"])] = true
			if m.Values["event_type"] == "route_changed" && m.Values["trace_id"] != tc.TraceIDString() {
				return errorf("route_changed has trace_id %v, want %s", m.Values["trace_id"], tc.TraceIDString())
			}
		}
		if !seen["agent_connected"] || !seen["route_changed"] {
			return errorf("events seen: %v, want agent_connected and route_changed", seen)
		}
		if n, _ := rdb.XLen(t.Context(), "logs:all:stream").Result(); n == 0 {
			return errorf("logs:all:stream is empty")
		}
		return nil
	})
}

// The control plane's /metrics shows RPC counts, connected agents and stream lengths.
func TestPrometheus_ControlPlaneMetrics(t *testing.T) {
	rds := redistest.New(t)
	httpAddr := freeAddr(t)
	cp := startControl(t, rds.URL(), "cp-1", "--http-addr", httpAddr)
	startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", "http://127.0.0.1:1"))
	eventually(t, 10*time.Second, func() error {
		res, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			return err
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		for _, want := range []string{
			`edgeplane_grpc_requests_total{code="OK",method="/edgeplane.v1.RoutingService/CreateRoute"} 1`,
			`edgeplane_agents_connected 1`,
			`edgeplane_stream_length{stream="events:all:stream"}`,
			`edgeplane_telemetry_dropped_total 0`,
		} {
			if !strings.Contains(string(b), want) {
				return errorf("/metrics lacks %s", want)
			}
		}
		return nil
	})
}
