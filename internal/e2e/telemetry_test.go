package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// GetTrace on an admin call's trace id shows the call's log line and its event; QueryLogs
// finds it by trace id and by component; TailEvents streams the next write's event.
func TestTelemetry_TraceLogsAndEventsOfAnAdminCall(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	tel := edgeplanev1.NewTelemetryServiceClient(cp.conn)

	tc := tracectx.New()
	tailCtx, stopTail := context.WithCancel(t.Context())
	defer stopTail()
	// From the stream's start (after_id "0"), so the write's event is delivered whether the
	// tail starts reading before or after the write; the trace id picks it out.
	tail, err := tel.TailEvents(tailCtx, &edgeplanev1.TailEventsRequest{EventTypes: []string{"route_changed"},
		TraceId: tc.TraceIDString(), AfterId: "0"})
	if err != nil {
		t.Fatal(err)
	}
	tailed := make(chan *edgeplanev1.StreamEntry, 1)
	go func() {
		if res, err := tail.Recv(); err == nil {
			tailed <- res.GetEvent()
		}
	}()
	ctx := metadata.AppendToOutgoingContext(t.Context(), tracectx.Header, tc.String())
	if _, err := cp.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route("web", "web.test", "http://127.0.0.1:1")}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		res, err := tel.GetTrace(t.Context(), &edgeplanev1.GetTraceRequest{TraceId: tc.TraceIDString()})
		if err != nil {
			return err
		}
		var sawLog, sawEvent bool
		for _, e := range res.GetEntries() {
			sawLog = sawLog || e.GetStream() == "logs:all:stream" && e.GetFields()["msg"] == "rpc"
			sawEvent = sawEvent || e.GetStream() == "events:all:stream" && e.GetFields()["event_type"] == "route_changed"
		}
		if !sawLog || !sawEvent {
			return fmt.Errorf("trace has log=%v event=%v: %v", sawLog, sawEvent, res.GetEntries())
		}
		return nil
	})
	logs, err := tel.QueryLogs(t.Context(), &edgeplanev1.QueryLogsRequest{TraceId: tc.TraceIDString()})
	if err != nil || len(logs.GetEntries()) == 0 {
		t.Errorf("QueryLogs by trace: got %v %v, want the call's log lines", logs.GetEntries(), err)
	}
	byComponent, err := tel.QueryLogs(t.Context(), &edgeplanev1.QueryLogsRequest{Component: "grpc", Level: "INFO"})
	if err != nil || len(byComponent.GetEntries()) == 0 || byComponent.GetEntries()[0].GetFields()["component"] != "grpc" {
		t.Errorf("QueryLogs by component: got %v %v", byComponent.GetEntries(), err)
	}
	if _, err := tel.QueryLogs(t.Context(), &edgeplanev1.QueryLogsRequest{Level: "LOUD"}); err == nil {
		t.Errorf("QueryLogs with a bad level: got nil error")
	}
	select {
	case e := <-tailed:
		if e.GetFields()["trace_id"] != tc.TraceIDString() || e.GetFields()["route"] != "web" {
			t.Errorf("tailed event: got %v", e.GetFields())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("TailEvents delivered nothing")
	}
}

// Request records on the request stream (written here as agents write them) are counted
// exactly by GetMetrics, with status classes, and the consumer's lag is reported.
func TestTelemetry_MetricsFromRequestRecords(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	tel := edgeplanev1.NewTelemetryServiceClient(cp.conn)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	tc := tracectx.New()
	for i := range 250 {
		status := 200
		if i%10 == 0 {
			status = 503
		}
		r := requestlog.Record{TraceID: tracectx.New().TraceIDString(), Host: "web.test", Method: "GET", Path: "/", Status: status,
			Duration: time.Duration(i) * time.Millisecond, Route: "web", Node: "edge-1", Revision: 1}
		if i == 0 {
			r.TraceID = tc.TraceIDString()
		}
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: "logs:request:stream", Values: r.Values()}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 15*time.Second, func() error {
		res, err := tel.GetMetrics(t.Context(), &edgeplanev1.GetMetricsRequest{Host: "web.test", Window: durationpb.New(time.Minute)})
		if err != nil {
			return err
		}
		tot := res.GetTotal()
		if tot.GetRequests() != 250 || tot.GetStatusClasses()["5xx"] != 25 || tot.GetStatusClasses()["2xx"] != 225 {
			return fmt.Errorf("metrics: got %v, want 250 requests, 25 5xx, 225 2xx", tot)
		}
		return nil
	})
	lag, err := tel.GetConsumerLag(t.Context(), &edgeplanev1.GetConsumerLagRequest{})
	groups := map[string]*edgeplanev1.ConsumerLag{}
	for _, c := range lag.GetConsumers() {
		groups[c.GetStream()+"/"+c.GetGroup()] = c
	}
	if m := groups["logs:request:stream/metrics"]; err != nil || m == nil || m.GetPending() != 0 || groups["events:all:stream/alerts"] == nil {
		t.Errorf("consumer lag: got %v %v, want the metrics group caught up and the alerts group listed", lag.GetConsumers(), err)
	}
	trace, err := tel.GetTrace(t.Context(), &edgeplanev1.GetTraceRequest{TraceId: tc.TraceIDString()})
	if err != nil || len(trace.GetEntries()) != 1 || trace.GetEntries()[0].GetStream() != "logs:request:stream" {
		t.Errorf("GetTrace of a request: got %d entries (%v), want its one request record", len(trace.GetEntries()), err)
	}
}

// N requests through a real agent, told by the control plane where to publish, give exactly
// N in GetMetrics with their status classes; GetTrace on the X-Trace-Id the client got shows
// the request record.
func TestTelemetry_RequestsThroughAnAgentAreCountedAndTraced(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1", "--agent-redis-url", rds.URL())
	tel := edgeplanev1.NewTelemetryServiceClient(cp.conn)
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))
	ag.expectServes("web.test", "/", 200, "A /")

	const ok, missing = 120, 30
	var traceID string
	for i := range ok + missing {
		host := "web.test"
		if i >= ok {
			host = "nothing.test" // 404 from the agent itself, also recorded
		}
		req, _ := http.NewRequest(http.MethodGet, "http://"+ag.Addr+"/p", nil)
		req.Host = host
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if i == 0 {
			traceID = res.Header.Get("X-Trace-Id")
		}
	}
	if len(traceID) != 32 {
		t.Fatalf("X-Trace-Id: got %q, want a trace id", traceID)
	}
	eventually(t, 15*time.Second, func() error {
		res, err := tel.GetMetrics(t.Context(), &edgeplanev1.GetMetricsRequest{Window: durationpb.New(time.Minute)})
		if err != nil {
			return err
		}
		byHost := map[string]*edgeplanev1.TrafficMetrics{}
		for _, m := range res.GetMetrics() {
			byHost[m.GetHost()] = m
		}
		web, none := byHost["web.test"], byHost["nothing.test"]
		// +1: the readiness probe above (expectServes) went through the agent too.
		if web.GetRequests() != ok+1 || web.GetStatusClasses()["2xx"] != ok+1 || none.GetRequests() != missing || none.GetStatusClasses()["4xx"] != missing {
			return fmt.Errorf("metrics: web %v, nothing %v; want %d 2xx and %d 4xx", web, none, ok+1, missing)
		}
		return nil
	})
	res, err := tel.GetTrace(t.Context(), &edgeplanev1.GetTraceRequest{TraceId: traceID})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetEntries()) != 1 || res.GetEntries()[0].GetStream() != "logs:request:stream" ||
		res.GetEntries()[0].GetFields()["route"] != "web" || res.GetEntries()[0].GetFields()["node"] != "edge-1" {
		t.Errorf("GetTrace of the agent's trace id: got %v, want its request record", res.GetEntries())
	}
}
