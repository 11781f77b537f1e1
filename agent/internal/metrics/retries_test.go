package metrics

import (
	"strings"
	"testing"
)

func TestMetrics_RetriesAndTargetHealth(t *testing.T) {
	m := New()
	r := m.Route("web")
	r.Retry(RetryConnect)
	r.Retry(Retry5xx)
	r.Retry(Retry5xx)
	r.RetryBudgetExhausted()
	m.SetTargetHealthy("web", "http://a:1", false)
	m.SetTargetHealthy("web", "http://b:1", true)
	out := scrape(t, m)
	for _, want := range []string{
		`edgeplane_agent_retries_total{reason="connect",route="web"} 1`,
		`edgeplane_agent_retries_total{reason="5xx",route="web"} 2`,
		`edgeplane_agent_retry_budget_exhausted_total{route="web"} 1`,
		`edgeplane_agent_target_healthy{route="web",target="http://a:1"} 0`,
		`edgeplane_agent_target_healthy{route="web",target="http://b:1"} 1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scrape lacks %q", want)
		}
	}
	if strings.Contains(out, `reason="reset"`) {
		t.Error("a retry reason never counted is exported (series are made on first use)")
	}
	m.Forget("web")
	m.ForgetTarget("web", "http://a:1")
	out = scrape(t, m)
	if strings.Contains(out, `edgeplane_agent_retries_total{reason="connect",route="web"}`) || strings.Contains(out, `target="http://a:1"`) {
		t.Error("series of a forgotten route or target are still exported")
	}
}
