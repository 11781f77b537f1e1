package alerts_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/internal/keyspace"
)

func TestManager_ThresholdsAreConfigurable(t *testing.T) {
	rdb := newRedis(t)
	tenPercent := metrics.Summary{Host: "a.test", Route: "web", Requests: 100, StatusClasses: map[string]int64{"2xx": 90, "5xx": 10}, P99: 2 * time.Second}
	tests := []struct {
		name  string
		rules []alerts.Rule
		want  []string
	}{
		{"defaults", nil, []string{`HighErrorRate{host="a.test"}`, `HighLatency{host="a.test"}`}},
		{"error rate under a raised threshold", []alerts.Rule{{Kind: alerts.ErrorRate, Threshold: 0.2}}, []string{}},
		{"too few requests", []alerts.Rule{{Kind: alerts.ErrorRate, MinRequests: 101}}, []string{}},
		{"lowered threshold", []alerts.Rule{{Name: "SomeErrors", Kind: alerts.ErrorRate, Threshold: 0.01, Severity: alerts.Info}}, []string{`SomeErrors{host="a.test"}`}},
		{"latency under a raised limit", []alerts.Rule{{Kind: alerts.Latency, Duration: 3 * time.Second}}, []string{}},
		{"latency over a lowered limit", []alerts.Rule{{Kind: alerts.Latency, Duration: 500 * time.Millisecond}}, []string{`HighLatency{host="a.test"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := alerts.New(alerts.Config{Client: rdb, Metrics: &fakeMetrics{sums: []metrics.Summary{tenPercent}},
				Rules: tt.rules, Keys: keyspace.New(strings.ReplaceAll(tt.name, " ", "-"))})
			if err := m.Evaluate(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := activeIDs(t, m); !slices.Equal(got, tt.want) {
				t.Errorf("active: got %v, want %v", got, tt.want)
			}
		})
	}
}

// While the condition holds, the alert is notified again once per cooldown, by one of the
// replicas only. The cooldown is an hour, ended by the test (its key deleted, as its TTL
// would), so nothing depends on how fast the machine is: between two ends, dozens of
// evaluations by three replicas notify once.
func TestManager_RepeatsOncePerCooldown(t *testing.T) {
	rdb := newRedis(t)
	recv := newReceiver(t, 0)
	src := &fakeMetrics{}
	src.set(metrics.Summary{Host: "a.test", Requests: 50, StatusClasses: map[string]int64{"5xx": 50}})
	for range 3 {
		startManager(t, alerts.Config{Client: rdb, Metrics: src, Webhooks: []string{recv.URL},
			EvalEvery: 5 * time.Millisecond, Cooldown: time.Hour, Rules: []alerts.Rule{{Kind: alerts.ErrorRate}}})
	}
	const id = `HighErrorRate{host="a.test"}`
	for want := 1; want <= 3; want++ {
		if want > 1 {
			if err := rdb.Del(t.Context(), keyspace.New("").AlertCooldown(id)).Err(); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, fmt.Sprintf("notification %d", want), func() bool { return len(recv.alerts()) >= want })
		src.waitMore(t, 30)
		if got := len(recv.alerts()); got != want {
			t.Fatalf("got %d notifications after %d cooldowns, want %d: %+v", got, want, want, recv.alerts())
		}
	}
	got := recv.alerts()
	for i := 1; i < len(got); i++ {
		if !got[i].StartsAt.Equal(got[0].StartsAt) {
			t.Errorf("repeat %d startsAt %s, want the first %s", i, got[i].StartsAt, got[0].StartsAt)
		}
	}
}

// A webhook answering 503 is retried; a webhook that hangs delays neither evaluation nor the
// other webhooks.
func TestManager_WebhookRetriesAndNeverBlocks(t *testing.T) {
	rdb := newRedis(t)
	flaky := newReceiver(t, 2)
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets hung.Close return
	src := &fakeMetrics{}
	src.set(metrics.Summary{Host: "a.test", Requests: 50, StatusClasses: map[string]int64{"5xx": 50}})
	m := startManager(t, alerts.Config{Client: rdb, Metrics: src, Webhooks: []string{hung.URL, flaky.URL},
		EvalEvery: time.Hour, WebhookBackoff: 20 * time.Millisecond, Rules: []alerts.Rule{{Kind: alerts.ErrorRate}}})

	waitFor(t, "the notification after two 503s", func() bool { return len(flaky.alerts()) == 1 })
	flaky.mu.Lock()
	posts := flaky.posts
	flaky.mu.Unlock()
	if posts != 3 {
		t.Errorf("flaky webhook: got %d posts, want 3", posts)
	}
	src.set()
	start := time.Now()
	if err := m.Evaluate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("evaluation took %s with a hung webhook, want it not to wait", d)
	}
	waitFor(t, "the resolution", func() bool { return len(flaky.alerts()) == 2 })
}

// Every consumer group on the request stream has a default lag rule: a stalled group is
// alerted, not found out by a missing answer. There is one: metrics, whose pass also writes
// the trace and log search indexes (the search group of earlier versions is retired).
func TestDefaultRules_EveryRequestGroupHasALagRule(t *testing.T) {
	var groups []string
	for _, r := range alerts.DefaultRules() {
		if r.Kind == alerts.ConsumerLag {
			groups = append(groups, r.Group)
		}
	}
	for _, g := range []string{keyspace.GroupMetrics} {
		if !slices.Contains(groups, g) {
			t.Errorf("default ConsumerLag rules cover %v, want %q among them", groups, g)
		}
	}
}
