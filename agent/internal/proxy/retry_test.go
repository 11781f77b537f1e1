package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// answering starts a backend that answers status with its name as the body, counting the
// requests (by method) and the request body bytes it read.
type counting struct {
	*httptest.Server
	hits  atomic.Int32
	posts atomic.Int32
}

func answering(t *testing.T, name string, status int) *counting {
	t.Helper()
	c := &counting{}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		c.hits.Add(1)
		if r.Method == http.MethodPost {
			c.posts.Add(1)
		}
		w.WriteHeader(status)
		io.WriteString(w, name)
	}))
	t.Cleanup(c.Close)
	return c
}

// retryRoute is a route over urls with policy and a passive health threshold high enough
// that no target is ejected during a test: these tests see retries, not ejection.
func retryRoute(policy *edgeplanev1.RetryPolicy, urls ...string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: "r", Hosts: []string{"r.test"}, Targets: targets(urls...), RetryPolicy: policy,
		OutlierDetection: &edgeplanev1.OutlierDetection{ConsecutiveFailures: 1000}}
}

func TestRetry_ConnectFailureRetriedForEveryMethod(t *testing.T) {
	good := answering(t, "good", 200)
	dead := "http://" + closedAddr(t)
	m := metrics.New()
	p := newProxy(t, Config{Metrics: m}, retryRoute(nil, dead, good.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			good.posts.Store(0)
			for i := range 6 {
				if resp, body := do(t, f, http.MethodPost, "r.test", "/", strings.NewReader("x")); resp.StatusCode != 200 || body != "good" {
					t.Fatalf("POST %d: got %d %q, want 200 from the live target after a retry", i, resp.StatusCode, body)
				}
			}
			if got := good.posts.Load(); got != 6 {
				t.Errorf("POSTs at the live target: got %d, want 6 (each once)", got)
			}
		})
	}
	failed := metricValue(t, m, "edgeplane_agent_upstream_errors_total", map[string]string{"route": "r", "kind": "connect"})
	if got := retryCount(t, m, "connect"); got != failed || got == 0 {
		t.Errorf(`edgeplane_agent_retries_total{reason="connect"}: got %v, want %v (every failed connect retried)`, got, failed)
	}
}

func TestRetry_ConnectFailureNotRetriedOnTheSameTarget(t *testing.T) {
	p := newProxy(t, Config{}, retryRoute(&edgeplanev1.RetryPolicy{ExposeAttempts: true}, "http://"+closedAddr(t)))
	for mode, f := range paths(t, p) {
		resp, _ := get(t, f, "r.test", "/")
		if resp.StatusCode != http.StatusBadGateway || resp.Header.Get(attemptsHeader) != "1" {
			t.Errorf("%s: got %d with %s %q, want 502 after 1 try", mode, resp.StatusCode, attemptsHeader, resp.Header.Get(attemptsHeader))
		}
	}
}

func TestRetry_5xxRetriedForGETNotPOST(t *testing.T) {
	bad, good := answering(t, "bad", 503), answering(t, "good", 200)
	p := newProxy(t, Config{}, retryRoute(&edgeplanev1.RetryPolicy{Retry_5Xx: true}, bad.URL, good.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			for i := range 6 {
				if resp, body := get(t, f, "r.test", "/"); resp.StatusCode != 200 || body != "good" {
					t.Fatalf("GET %d: got %d %q, want 200 from the good target", i, resp.StatusCode, body)
				}
			}
			bad.posts.Store(0)
			good.posts.Store(0)
			var failed int
			for range 6 {
				if resp, _ := do(t, f, http.MethodPost, "r.test", "/", strings.NewReader("x")); resp.StatusCode == 503 {
					failed++
				}
			}
			if failed != 3 || bad.posts.Load()+good.posts.Load() != 6 {
				t.Errorf("POSTs: %d answered 503, %d reached backends; want 3 and 6 (never retried)", failed, bad.posts.Load()+good.posts.Load())
			}
		})
	}
}

func TestRetry_5xxRelayedWithoutRetry5xx(t *testing.T) {
	bad, good := answering(t, "bad", 503), answering(t, "good", 200)
	p := newProxy(t, Config{}, retryRoute(nil, bad.URL, good.URL))
	for mode, f := range paths(t, p) {
		var failed int
		for range 6 {
			if resp, _ := get(t, f, "r.test", "/"); resp.StatusCode == 503 {
				failed++
			}
		}
		if failed != 3 {
			t.Errorf("%s: got %d of 6 GETs answered 503, want 3 (5xx answers relayed by default)", mode, failed)
		}
	}
}

func TestRetry_NonIdempotentOptIn(t *testing.T) {
	bad, good := answering(t, "bad", 503), answering(t, "good", 200)
	p := newProxy(t, Config{}, retryRoute(&edgeplanev1.RetryPolicy{Retry_5Xx: true, RetryNonIdempotent: true}, bad.URL, good.URL))
	f := paths(t, p)["fast"]
	for i := range 6 {
		if resp, _ := do(t, f, http.MethodPost, "r.test", "/", strings.NewReader("x")); resp.StatusCode != 200 {
			t.Fatalf("POST %d: got %d, want 200 after a retry (retry_non_idempotent)", i, resp.StatusCode)
		}
	}
	// A body larger than what the agent holds is streamed to the backend: never sent twice.
	bad.posts.Store(0)
	good.posts.Store(0)
	big := strings.Repeat("x", 256<<10)
	var failed int
	for range 6 {
		if resp, _ := do(t, f, http.MethodPost, "r.test", "/", strings.NewReader(big)); resp.StatusCode == 503 {
			failed++
		}
	}
	if failed != 3 || bad.posts.Load()+good.posts.Load() != 6 {
		t.Errorf("streamed POSTs: %d answered 503, %d reached backends; want 3 and 6 (a streamed body is never resent)",
			failed, bad.posts.Load()+good.posts.Load())
	}
}

func TestRetry_ResetRetriedForGETNotPOST(t *testing.T) {
	good := answering(t, "good", 200)
	p := newProxy(t, Config{}, retryRoute(nil, resetter(t), good.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			for i := range 6 {
				if resp, _ := get(t, f, "r.test", "/"); resp.StatusCode != 200 {
					t.Fatalf("GET %d: got %d, want 200 after a retry", i, resp.StatusCode)
				}
			}
			var failed int
			for range 6 {
				if resp, _ := do(t, f, http.MethodPost, "r.test", "/", strings.NewReader("x")); resp.StatusCode == http.StatusBadGateway {
					failed++
				}
			}
			if failed != 3 {
				t.Errorf("POSTs: got %d of 6 failed, want 3 (a written POST is never resent)", failed)
			}
		})
	}
}

func TestRetry_AttemptsCapAndHeader(t *testing.T) {
	bs := []*counting{answering(t, "a", 503), answering(t, "b", 503), answering(t, "c", 503), answering(t, "d", 503)}
	var urls []string
	for _, b := range bs {
		urls = append(urls, b.URL)
	}
	policy := &edgeplanev1.RetryPolicy{MaxAttempts: 3, Retry_5Xx: true, ExposeAttempts: true, MinRetriesPerSecond: proto.Uint32(1000)}
	p := newProxy(t, Config{}, retryRoute(policy, urls...))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			for _, b := range bs {
				b.hits.Store(0)
			}
			for range 4 {
				resp, _ := get(t, f, "r.test", "/")
				if resp.StatusCode != 503 || resp.Header.Get(attemptsHeader) != "3" {
					t.Errorf("got %d with %s %q, want 503 after 3 tries", resp.StatusCode, attemptsHeader, resp.Header.Get(attemptsHeader))
				}
			}
			var hits int32
			for _, b := range bs {
				hits += b.hits.Load()
			}
			if hits != 12 {
				t.Errorf("tries at the backends: got %d for 4 requests, want 12 (3 each)", hits)
			}
		})
	}
}

func TestRetry_AttemptsHeaderOffByDefault(t *testing.T) {
	good := answering(t, "good", 200)
	on := retryRoute(&edgeplanev1.RetryPolicy{ExposeAttempts: true}, good.URL)
	on.Name, on.Hosts = "on", []string{"on.test"}
	p := newProxy(t, Config{}, retryRoute(nil, good.URL), on)
	for mode, f := range paths(t, p) {
		if resp, _ := get(t, f, "r.test", "/"); resp.Header.Get(attemptsHeader) != "" {
			t.Errorf("%s: default route sent %s %q, want none", mode, attemptsHeader, resp.Header.Get(attemptsHeader))
		}
		if resp, _ := get(t, f, "on.test", "/"); resp.Header.Get(attemptsHeader) != "1" {
			t.Errorf("%s: expose_attempts route sent %s %q, want 1", mode, attemptsHeader, resp.Header.Get(attemptsHeader))
		}
	}
}

func TestRetry_BudgetCapsRetriesInAnOutage(t *testing.T) {
	a, b := answering(t, "a", 503), answering(t, "b", 503)
	m := metrics.New()
	policy := &edgeplanev1.RetryPolicy{MaxAttempts: 5, Retry_5Xx: true, BudgetPercent: proto.Uint32(20), MinRetriesPerSecond: proto.Uint32(0)}
	p := newProxy(t, Config{Metrics: m}, retryRoute(policy, a.URL, b.URL))
	f := paths(t, p)["fast"]
	const requests = 200
	for range requests {
		get(t, f, "r.test", "/")
	}
	tries := int(a.hits.Load() + b.hits.Load())
	retries := tries - requests
	// 20% of the requests of the window (the test runs within it), sequential requests:
	// no concurrency slack.
	if retries > requests*20/100 || retries < requests*20/100-1 {
		t.Errorf("retries in a full outage: got %d for %d requests, want %d (20%%)", retries, requests, requests*20/100)
	}
	if got := retryCount(t, m, "5xx"); int(got) != retries {
		t.Errorf(`edgeplane_agent_retries_total{reason="5xx"}: got %v, want %d (the tries seen by the backends)`, got, retries)
	}
	if got := metricValue(t, m, "edgeplane_agent_retry_budget_exhausted_total", map[string]string{"route": "r"}); got == 0 {
		t.Error("edgeplane_agent_retry_budget_exhausted_total: got 0, want the refused retries counted")
	}
}

func TestRetry_PerTryTimeout(t *testing.T) {
	slow, good := echoAfter(t, 10*time.Second), answering(t, "good", 200)
	policy := &edgeplanev1.RetryPolicy{PerTryTimeout: durationpb.New(100 * time.Millisecond), ExposeAttempts: true}
	p := newProxy(t, Config{}, retryRoute(policy, slow.URL, good.URL))
	for mode, f := range paths(t, p) {
		for i := range 4 {
			resp, body := get(t, f, "r.test", "/")
			if resp.StatusCode != 200 || body != "good" {
				t.Errorf("%s GET %d: got %d %q, want 200 from the good target", mode, i, resp.StatusCode, body)
			}
		}
	}
}

func TestRetryBudget_Window(t *testing.T) {
	b := newRetryBudget(&edgeplanev1.RetryPolicy{BudgetPercent: proto.Uint32(50), MinRetriesPerSecond: proto.Uint32(1)})
	now := time.Unix(1000, 0).UnixNano()
	for range 10 {
		b.deposit(now)
	}
	var allowed int
	for range 100 {
		if b.withdraw(now) {
			allowed++
		}
	}
	if want := 10*50/100 + budgetWindow*1; allowed != want {
		t.Errorf("withdrawals allowed: got %d, want %d (50%% of 10 requests + 1/s over the window)", allowed, want)
	}
	later := now + int64(budgetWindow)*int64(time.Second)
	if !b.withdraw(later) {
		t.Error("a window later: got no retry allowed, want the minimum again")
	}
}

func retryCount(t *testing.T, m *metrics.Metrics, reason string) float64 {
	t.Helper()
	return metricValue(t, m, "edgeplane_agent_retries_total", map[string]string{"route": "r", "reason": reason})
}

// metricValue returns the counter name with labels, 0 if it has no such series.
func metricValue(t *testing.T, m *metrics.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, s := range mf.GetMetric() {
			for _, lp := range s.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue series
				}
			}
			return s.GetCounter().GetValue() + s.GetGauge().GetValue()
		}
	}
	return 0
}
