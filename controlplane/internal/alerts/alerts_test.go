package alerts_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

var names = telemetry.StreamNames("")

func publishRequests(t *testing.T, rdb redis.UniversalClient, n, status int, host string) {
	t.Helper()
	pipe := rdb.Pipeline()
	for range n {
		r := requestlog.Record{Host: host, Method: "GET", Path: "/", Status: status, Duration: time.Millisecond, Route: "web", Revision: 1}
		pipe.XAdd(t.Context(), &redis.XAddArgs{Stream: names.Requests, Values: r.Values()})
	}
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
}

// eventTypes returns the event_type of every entry on the events stream.
func eventTypes(t *testing.T, rdb redis.UniversalClient) []string {
	t.Helper()
	msgs, err := rdb.XRange(t.Context(), names.Events, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Values["event_type"].(string))
	}
	return out
}

// A 5xx burst through the real metrics consumer, judged by two replicas evaluating at the
// same time, reaches the webhook as one firing notification, then one resolved
// notification once the burst has left the window.
func TestManager_ErrorBurstFiresOnceAcrossReplicasThenResolves(t *testing.T) {
	rdb := newRedis(t)
	pub := startPublisher(t, rdb)
	proc := metrics.New(metrics.Config{Client: rdb, Window: time.Second})
	startConsumer(t, rdb, names.Requests, "metrics", proc)
	counted := &countingMetrics{Metrics: proc}
	recv := newReceiver(t, 0)
	var replicas []*alerts.Manager
	for _, id := range []string{"r1", "r2"} {
		replicas = append(replicas, startManager(t, alerts.Config{
			Client: rdb, Metrics: counted, RequestStream: names.Requests,
			Events: telemetry.NewEvents(pub, names).For("alerts"), Publisher: pub, AlertsStream: names.Alerts,
			Webhooks: []string{recv.URL}, EvalEvery: 20 * time.Millisecond, Window: 2 * time.Second,
			Cooldown: time.Minute, ReplicaID: id, GeneratorURL: "http://edgeplane.test/alerts",
		}))
	}

	publishRequests(t, rdb, 60, 502, "a.test")  // 100% errors: fires
	publishRequests(t, rdb, 100, 200, "b.test") // no errors
	publishRequests(t, rdb, 10, 500, "c.test")  // errors, but under 20 requests
	waitFor(t, "the firing notification", func() bool { f, _ := recv.count("HighErrorRate"); return f > 0 })
	for _, m := range replicas {
		if got, want := activeIDs(t, m), []string{`HighErrorRate{host="a.test"}`}; !slices.Equal(got, want) {
			t.Errorf("active: got %v, want %v", got, want)
		}
		firing, err := m.Firing(t.Context())
		if err != nil || len(firing) != 1 || firing[0].GetName() != "HighErrorRate" || firing[0].GetLabels()["host"] != "a.test" {
			t.Errorf("firing: got %v, %v, want HighErrorRate for a.test", firing, err)
		}
		sum, err := m.Summary(t.Context())
		if err != nil || !cmp.Equal(sum, map[alerts.Severity]int{alerts.Critical: 1}) {
			t.Errorf("summary: got %v, %v, want critical: 1", sum, err)
		}
	}

	waitFor(t, "the resolved notification", func() bool { _, r := recv.count("HighErrorRate"); return r > 0 })
	counted.waitMore(t, 20) // ten more evaluations by each replica
	got := recv.alerts()
	if len(got) != 2 || got[0].resolved() || !got[1].resolved() {
		t.Fatalf("webhook got %+v, want one firing then one resolved notification", got)
	}
	fired, resolved := got[0], got[1]
	wantLabels := map[string]string{"alertname": "HighErrorRate", "severity": "critical", "host": "a.test"}
	if diff := cmp.Diff(wantLabels, fired.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if fired.Annotations["summary"] != "100.0% of requests to a.test failed" || fired.Annotations["description"] == "" || fired.GeneratorURL == "" {
		t.Errorf("annotations %v, generatorURL %q: want a summary, a description and the URL", fired.Annotations, fired.GeneratorURL)
	}
	if !resolved.StartsAt.Equal(fired.StartsAt) || !resolved.EndsAt.After(fired.StartsAt) {
		t.Errorf("resolved startsAt %s endsAt %s, want the firing startsAt %s and a later end", resolved.StartsAt, resolved.EndsAt, fired.StartsAt)
	}
	if ids := activeIDs(t, replicas[0]); len(ids) != 0 {
		t.Errorf("active after resolution: got %v, want none", ids)
	}
	waitFor(t, "two entries on the alerts stream", func() bool { n, _ := rdb.XLen(t.Context(), names.Alerts).Result(); return n == 2 })
	waitFor(t, "alert_fired and alert_resolved events", func() bool {
		return slices.Equal(eventTypes(t, rdb), []string{(&event.AlertFired{}).Type(), (&event.AlertResolved{}).Type()})
	})
}

// Events on the events stream fire and resolve the event-driven rules; history from before
// the consumer group existed does not.
func TestManager_EventsFireAndResolve(t *testing.T) {
	rdb := newRedis(t)
	pub := startPublisher(t, rdb)
	recv := newReceiver(t, 0)
	events := telemetry.NewEvents(pub, names).For("test")
	history := strconv.FormatInt(time.Now().Add(-time.Hour).UnixMilli(), 10) + "-0"
	if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: names.Events, ID: history,
		Values: append([]any{"event_type", (&event.ServiceDied{}).Type()}, event.Values(&event.ServiceDied{Service: "long-ago"})...)}).Err(); err != nil {
		t.Fatal(err)
	}
	m := startManager(t, alerts.Config{Client: rdb, Webhooks: []string{recv.URL}, EvalEvery: 20 * time.Millisecond, Cooldown: time.Minute})
	startConsumer(t, rdb, names.Events, "alerts", m)

	events.Emit(t.Context(), &event.CertificateFailed{Cert: event.Cert{Certificate: "web"}, Error: "acme: rate limited"})
	events.Emit(t.Context(), &event.ServiceDied{Service: "victim", ExitCode: "137"})
	events.Emit(t.Context(), &event.CertificateExpiring{Cert: event.Cert{Certificate: "soon"}, NotAfter: time.Now().Add(3 * 24 * time.Hour)})
	events.Emit(t.Context(), &event.CertificateExpiring{Cert: event.Cert{Certificate: "later"}, NotAfter: time.Now().Add(30 * 24 * time.Hour)})
	want := []string{`CertificateExpiring{certificate="soon"}`, `CertificateFailed{certificate="web"}`, `ServiceDied{service="victim"}`}
	waitFor(t, "three firing alerts", func() bool { return len(recv.alerts()) == 3 })
	got := activeIDs(t, m)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("active: got %v, want %v", got, want)
	}

	events.Emit(t.Context(), &event.CertificateReady{Cert: event.Cert{Certificate: "web"}})
	events.Emit(t.Context(), &event.ServiceStarted{Service: "victim"})
	waitFor(t, "two resolved alerts", func() bool { return len(recv.alerts()) == 5 })
	for _, name := range []string{"CertificateFailed", "ServiceDied"} {
		if f, r := recv.count(name); f != 1 || r != 1 {
			t.Errorf("%s: got %d firing and %d resolved, want 1 and 1", name, f, r)
		}
	}
	if got := activeIDs(t, m); !slices.Equal(got, want[:1]) {
		t.Errorf("active: got %v, want %v", got, want[:1])
	}
}

// An agent whose status says disconnected for longer than the rule's duration is down;
// reconnecting resolves it.
func TestManager_AgentDownFromStaleStatus(t *testing.T) {
	rdb := newRedis(t)
	recv := newReceiver(t, 0)
	now := time.Now()
	agents := &fakeAgents{}
	agents.set(
		&edgeplanev1.Agent{NodeId: "up", Connected: true, LastSeen: timestamppb.New(now)},
		&edgeplanev1.Agent{NodeId: "gone", LastSeen: timestamppb.New(now.Add(-time.Minute)), LastError: "connection reset"},
		&edgeplanev1.Agent{NodeId: "blip", LastSeen: timestamppb.New(now.Add(-time.Second))},
	)
	m := startManager(t, alerts.Config{Client: rdb, Agents: agents, Webhooks: []string{recv.URL}, EvalEvery: 20 * time.Millisecond})
	waitFor(t, "AgentDown", func() bool { f, _ := recv.count("AgentDown"); return f == 1 })
	agents.waitMore(t, 5) // "blip" stays under the rule's duration
	if got, want := activeIDs(t, m), []string{`AgentDown{node_id="gone"}`}; !slices.Equal(got, want) {
		t.Errorf("active: got %v, want %v", got, want)
	}
	if a := recv.alerts()[0]; a.Labels["node_id"] != "gone" || a.Labels["severity"] != "critical" {
		t.Errorf("labels: got %v, want node_id gone, severity critical", a.Labels)
	}

	agents.set(&edgeplanev1.Agent{NodeId: "gone", Connected: true, LastSeen: timestamppb.Now()})
	waitFor(t, "the resolution", func() bool { _, r := recv.count("AgentDown"); return r == 1 })
}

// A consumer group whose oldest unprocessed entry is older than the limit lags; catching up
// resolves it.
func TestManager_ConsumerLag(t *testing.T) {
	rdb := newRedis(t)
	recv := newReceiver(t, 0)
	old := strconv.FormatInt(time.Now().Add(-10*time.Second).UnixMilli(), 10) + "-0"
	if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: names.Requests, ID: old, Values: []any{"host", "a.test"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreate(t.Context(), names.Requests, "metrics", "0").Err(); err != nil {
		t.Fatal(err)
	}
	m := startManager(t, alerts.Config{Client: rdb, RequestStream: names.Requests, Webhooks: []string{recv.URL},
		EvalEvery: 20 * time.Millisecond, Rules: []alerts.Rule{{Kind: alerts.ConsumerLag}}})
	waitFor(t, "ConsumerLag", func() bool { f, _ := recv.count("ConsumerLag"); return f == 1 })
	if got, want := activeIDs(t, m), []string{`ConsumerLag{group="metrics",stream="logs:request:stream"}`}; !slices.Equal(got, want) {
		t.Errorf("active: got %v, want %v", got, want)
	}

	if err := rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "metrics", Consumer: "c", Streams: []string{names.Requests, ">"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XAck(t.Context(), names.Requests, "metrics", old).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resolution", func() bool { _, r := recv.count("ConsumerLag"); return r == 1 })
}
