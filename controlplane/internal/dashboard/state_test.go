package dashboard

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
)

func TestSessions_ExpireAndStayBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newSessions(time.Hour, 3)
	who := auth.Principal{Name: "a", Role: auth.RoleViewer, Via: "token"}
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = s.create(fmt.Sprint("tok", i), who, now)
		now = now.Add(time.Second)
	}
	if len(s.byID) != 3 {
		t.Errorf("sessions kept: got %d, want 3", len(s.byID))
	}
	if _, ok := s.get(ids[0], now); ok {
		t.Error("the least recently used session survived a full table")
	}
	if se, ok := s.get(ids[3], now); !ok || se.token != "tok3" {
		t.Errorf("newest session: got %+v, %v; want tok3", se, ok)
	}
	if _, ok := s.get(ids[1], now.Add(time.Hour)); ok {
		t.Error("a session idle for the TTL is still alive")
	}
	busy := s.create("busy", who, now)
	for at := now; at.Sub(now) < MaxSessionAge; at = at.Add(30 * time.Minute) {
		if _, ok := s.get(busy, at); !ok {
			t.Fatalf("an active session ended after %s, before MaxSessionAge", at.Sub(now))
		}
	}
	if _, ok := s.get(busy, now.Add(MaxSessionAge)); ok {
		t.Error("an active session outlived MaxSessionAge")
	}
}

func TestHistory_SamplesAtMostOncePerSecondAndStaysBounded(t *testing.T) {
	h := newHistory()
	now := time.Now()
	h.record("r", traffic{Requests: 60}, now)
	if got := h.record("r", traffic{Requests: 120}, now.Add(500*time.Millisecond)); len(got) != 1 {
		t.Errorf("two samples within a second: got %d kept, want 1", len(got))
	}
	var got []sample
	for i := range 2 * historySamples {
		got = h.record("r", traffic{}, now.Add(time.Duration(i+1)*time.Second))
	}
	if len(got) != historySamples {
		t.Errorf("samples per route: got %d, want %d", len(got), historySamples)
	}
	for i := range historyRoutes + 10 {
		h.record(fmt.Sprint("route", i), traffic{}, now.Add(time.Duration(i)*time.Millisecond))
	}
	if len(h.routes) > historyRoutes {
		t.Errorf("routes remembered: got %d, want at most %d", len(h.routes), historyRoutes)
	}
}

func TestBuildChart_ScalesToTheLargestValue(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	samples := []sample{{at: at, rate: 0}, {at: at.Add(5 * time.Second), rate: 2}, {at: at.Add(10 * time.Second), rate: 1}}
	c := rateChart(samples)
	if c.Empty || len(c.Series) != 1 || c.Max != "2.00/s" || c.Span != "10s" {
		t.Fatalf("got %+v, want one series, max 2.00/s over 10s", c)
	}
	want := fmt.Sprintf("%d.0,%d.0 %d.0,%d.0 %d.0,%d.0", chartPad, chartH-chartPad, chartW/2, chartPad, chartW-chartPad, chartH/2)
	if got := c.Series[0].Points; got != want {
		t.Errorf("points: got %q, want %q", got, want)
	}
	if one := rateChart(samples[:1]); !one.Empty || len(one.Series) != 0 {
		t.Errorf("one sample: got %+v, want an empty chart", one)
	}
}

// Every page template renders with empty data (no nil dereference in a template).
func TestTemplates_RenderEmpty(t *testing.T) {
	for name, tmpl := range templates {
		var b strings.Builder
		if err := tmpl.ExecuteTemplate(&b, "layout.html", page{Title: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
