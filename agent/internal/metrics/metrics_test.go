package metrics

import (
	"io"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	b, _ := io.ReadAll(rec.Body)
	return string(b)
}

func TestMetrics_RouteSeries(t *testing.T) {
	m := New()
	r := m.Route("web")
	if out := scrape(t, m); strings.Contains(out, `route="web"`) {
		t.Error("a route's series exist before its first request (they are made on first use)")
	}
	r.Observe(200, 3*time.Millisecond)
	r.Observe(204, time.Millisecond)
	r.Observe(502, time.Millisecond)
	r.UpstreamError(ErrConnect)
	m.SetRevision(42)
	m.SetConnected(true)
	out := scrape(t, m)
	for _, want := range []string{
		`edgeplane_agent_requests_total{code_class="2xx",route="web"} 2`,
		`edgeplane_agent_requests_total{code_class="5xx",route="web"} 1`,
		`edgeplane_agent_request_duration_seconds_count{route="web"} 3`,
		`edgeplane_agent_upstream_errors_total{kind="connect",route="web"} 1`,
		`edgeplane_agent_config_revision 42`,
		`edgeplane_agent_control_plane_connected 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `code_class="4xx",route="web"`) || strings.Contains(out, `kind="timeout",route="web"`) {
		t.Error("series never counted are exported")
	}
	m.Forget("web")
	if out := scrape(t, m); strings.Contains(out, `route="web"`) {
		t.Error("series of a forgotten route are still exported")
	}
}

// Many goroutines using a route's series for the first time at once all count into one series.
func TestMetrics_FirstUseRacesCountOnce(t *testing.T) {
	m := New()
	r := m.Route("web")
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				r.Observe(200, time.Millisecond)
			}
		}()
	}
	wg.Wait()
	if out := scrape(t, m); !strings.Contains(out, `edgeplane_agent_requests_total{code_class="2xx",route="web"} 800`) {
		t.Errorf("800 requests from 8 goroutines not counted in one series:\n%s", out)
	}
}

func BenchmarkRoute_Observe(b *testing.B) {
	r := New().Route("web")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r.Observe(200, time.Millisecond)
		}
	})
}

func TestMetrics_TraceCounters(t *testing.T) {
	m := New()
	if out := scrape(t, m); !strings.Contains(out, "edgeplane_agent_traces_published_total 0") ||
		!strings.Contains(out, "edgeplane_agent_traces_dropped_total 0") {
		t.Errorf("without a publisher the counters should read 0:\n%s", out)
	}
	m.SetTraceStats(func() (uint64, uint64) { return 12, 3 })
	out := scrape(t, m)
	for _, want := range []string{"edgeplane_agent_traces_published_total 12", "edgeplane_agent_traces_dropped_total 3"} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
}
