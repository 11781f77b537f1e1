package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// A control plane run with --namespace keeps every Redis key under it: state, changelog,
// agents, ports, telemetry streams, metrics counters, the trace index, dead letters and
// alert state all start with the namespace (after a hash tag's "{").
func TestNamespace_EveryKeyStartsWithIt(t *testing.T) {
	const ns = "tenant7"
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1", "--namespace", ns)
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	ctx := t.Context()
	streams := keyspace.New(ns).Streams()

	web := backend(t, "web")
	if _, err := cp.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route("web", "web.test", web),
		WaitForAgents: durationpb.New(5 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	startAgent(t, cp.Addr, "edge-1", t.TempDir())
	if _, err := cp.Ports().AllocatePort(ctx, &edgeplanev1.AllocatePortRequest{Purpose: "tcp", Owner: "x"}); err != nil {
		t.Fatal(err)
	}
	rec := requestlog.Record{TraceID: tracectx.New().TraceIDString(), Host: "web.test", Method: "GET", Path: "/",
		Status: 200, Route: "web", Node: "edge-1", Revision: 1}
	for _, values := range [][]any{rec.Values(), {"malformed", "record"}} { // the second is dead-lettered
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: streams.Requests, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: streams.Events, Values: []any{"event_type", "certificate_failed",
		"certificate", "web", "error", "test"}}).Err(); err != nil {
		t.Fatal(err)
	}
	tel := edgeplanev1.NewTelemetryServiceClient(cp.conn)
	eventually(t, 15*time.Second, func() error {
		m, err := tel.GetMetrics(ctx, &edgeplanev1.GetMetricsRequest{Host: "web.test", Window: durationpb.New(time.Minute)})
		if err != nil || m.GetTotal().GetRequests() != 1 {
			return fmt.Errorf("metrics: got %v %v, want 1 request", m.GetTotal(), err)
		}
		a, err := tel.ListAlerts(ctx, &edgeplanev1.ListAlertsRequest{})
		if err != nil || len(a.GetAlerts()) == 0 {
			return fmt.Errorf("alerts: got %v %v, want the certificate's", a.GetAlerts(), err)
		}
		for _, s := range []string{streams.Alerts, keyspace.DeadLetter(streams.Requests), streams.LogsAll} {
			if rdb.XLen(ctx, s).Val() == 0 {
				return fmt.Errorf("stream %s is empty", s)
			}
		}
		return nil
	})

	var keys []string
	iter := rdb.Scan(ctx, 0, "*", 100).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if len(keys) < 15 {
		t.Errorf("got %d keys (%v), want the run to have made at least 15", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.HasPrefix(strings.TrimPrefix(k, "{"), ns) {
			t.Errorf("key %q: does not start with namespace %q", k, ns)
		}
	}
}
