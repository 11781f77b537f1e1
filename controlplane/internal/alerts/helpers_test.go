package alerts_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// amAlert is what an Alertmanager receives.
type amAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	received     time.Time
}

func (a amAlert) resolved() bool { return !a.EndsAt.IsZero() }

// receiver is a webhook receiver in Alertmanager's place.
type receiver struct {
	*httptest.Server
	mu    sync.Mutex
	got   []amAlert // guarded by mu
	fails int       // POSTs still to answer 503; guarded by mu
	posts int       // every POST, failed or not; guarded by mu
}

func newReceiver(t *testing.T, fails int) *receiver {
	r := &receiver{fails: fails}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var batch []amAlert
		if err := json.NewDecoder(req.Body).Decode(&batch); err != nil || req.Method != http.MethodPost {
			t.Errorf("webhook got %s with %v, want a POST of an alert array", req.Method, err)
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		r.posts++
		if r.fails > 0 {
			r.fails--
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		for _, a := range batch {
			a.received = time.Now()
			r.got = append(r.got, a)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) alerts() []amAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]amAlert(nil), r.got...)
}

// count returns how many firing and resolved notifications arrived for alertname.
func (r *receiver) count(alertname string) (firing, resolved int) {
	for _, a := range r.alerts() {
		if a.Labels["alertname"] != alertname {
			continue
		}
		if a.resolved() {
			resolved++
		} else {
			firing++
		}
	}
	return firing, resolved
}

func newRedis(t *testing.T) redis.UniversalClient {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// run runs fn in a goroutine until the test ends.
func run(t *testing.T, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = fn(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func startPublisher(t *testing.T, rdb redis.UniversalClient) *publish.Publisher {
	p := publish.New(publish.Config{Client: rdb})
	run(t, p.Run)
	return p
}

func startConsumer(t *testing.T, rdb redis.UniversalClient, stream, group string, h streams.Handler) {
	c := streams.New(streams.Config{Client: rdb, Stream: stream, Group: group, Name: "c1", Handler: h, Block: 20 * time.Millisecond})
	run(t, c.Run)
}

func startManager(t *testing.T, cfg alerts.Config) *alerts.Manager {
	m := alerts.New(cfg)
	run(t, m.Run)
	return m
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	waitfor.True(t, 10*time.Second, what, ok)
}

func activeIDs(t *testing.T, m *alerts.Manager) []string {
	t.Helper()
	active, err := m.Active(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, a := range active {
		ids = append(ids, a.ID)
	}
	return ids
}

// rounds counts the evaluation rounds that read a rule's source, so that a test waits for
// more rounds to have run instead of sleeping "long enough".
type rounds struct{ n atomic.Int64 }

func (r *rounds) tick() { r.n.Add(1) }

// waitMore waits until n more rounds have read the source.
func (r *rounds) waitMore(t *testing.T, n int64) {
	t.Helper()
	from := r.n.Load()
	waitFor(t, fmt.Sprintf("%d more evaluations", n), func() bool { return r.n.Load() >= from+n })
}

// countingMetrics counts the rounds that query metrics.
type countingMetrics struct {
	alerts.Metrics
	rounds
}

func (c *countingMetrics) Query(ctx context.Context, stream, host string, from, to time.Time) ([]metrics.Summary, error) {
	c.tick()
	return c.Metrics.Query(ctx, stream, host, from, to)
}

// countingHealth counts the rounds that check the telemetry store.
type countingHealth struct {
	alerts.TelemetryHealth
	rounds
}

func (c *countingHealth) Problem(ctx context.Context) string {
	c.tick()
	return c.TelemetryHealth.Problem(ctx)
}

// fakeMetrics serves fixed summaries, standing in for metrics.Processor where the test is
// about rule thresholds, not aggregation.
type fakeMetrics struct {
	rounds
	mu   sync.Mutex
	sums []metrics.Summary // guarded by mu
}

func (f *fakeMetrics) set(sums ...metrics.Summary) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sums = sums
}

func (f *fakeMetrics) Query(context.Context, string, string, time.Time, time.Time) ([]metrics.Summary, error) {
	f.tick()
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]metrics.Summary(nil), f.sums...), nil
}

// fakeAgents serves fixed statuses, standing in for fanout.Fanout.
type fakeAgents struct {
	rounds
	mu     sync.Mutex
	agents []*edgeplanev1.Agent // guarded by mu
}

func (f *fakeAgents) set(agents ...*edgeplanev1.Agent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.agents = agents
}

func (f *fakeAgents) Agents(context.Context) ([]*edgeplanev1.Agent, error) {
	f.tick()
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.agents, nil
}
