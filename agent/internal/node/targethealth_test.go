package node

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// A target ejected by passive health is reported unhealthy to the control plane and in
// the gauge, and healthy again once its cooldown has passed.
func TestAgent_ReportsTargetHealth(t *testing.T) {
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr})
	dead := "http://" + closedAddr(t)
	r := route("web", "web.test", dead)
	r.Targets = append(r.Targets, &edgeplanev1.Target{Url: backend(t, "live")})
	r.OutlierDetection = &edgeplanev1.OutlierDetection{ConsecutiveFailures: 1, BaseEjectionTime: durationpb.New(3 * time.Second)} // long enough to see the gauge at 0 on a loaded machine
	r.RetryPolicy = &edgeplanev1.RetryPolicy{MaxAttempts: 1}
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{r}}), 1)

	waitReport(t, s, func(r *edgeplanev1.TargetHealthReport) bool { return len(r.GetTargets()) == 2 && healthyCount(r) == 2 })
	for range 2 {
		fetch(t, a.Addr(), "web.test", "/") // one of two reaches the dead target
	}
	got := waitReport(t, s, func(r *edgeplanev1.TargetHealthReport) bool { return healthyCount(r) == 1 })
	for _, th := range got.GetTargets() {
		if th.GetTarget() == dead && (th.GetHealthy() || !strings.Contains(th.GetReason(), "ejected after 1 consecutive failures") ||
			th.GetRoute() != "web" || th.GetSince() == nil) {
			t.Errorf("dead target reported as %v, want unhealthy, ejected, with a since", th)
		}
	}
	waitMetric(t, a, `edgeplane_agent_target_healthy{route="web",target="`+dead+`"} 0`)
	waitReport(t, s, func(r *edgeplanev1.TargetHealthReport) bool { return healthyCount(r) == 2 })
	waitMetric(t, a, `edgeplane_agent_target_healthy{route="web",target="`+dead+`"} 1`)
}

func healthyCount(r *edgeplanev1.TargetHealthReport) int {
	n := 0
	for _, th := range r.GetTargets() {
		if th.GetHealthy() {
			n++
		}
	}
	return n
}

// waitReport returns the first report from s that ok accepts, failing after 10 s.
func waitReport(t *testing.T, s *session, ok func(*edgeplanev1.TargetHealthReport) bool) *edgeplanev1.TargetHealthReport {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r := <-s.health:
			if ok(r) {
				return r
			}
		case <-timeout:
			t.Fatal("no matching target health report within 10s")
			return nil
		}
	}
}

func waitMetric(t *testing.T, a *Agent, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := fetch(t, a.MetricsAddr(), "x", "/metrics")
		if strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

// A report over MaxReportTargets keeps whole routes, those with an unhealthy target first.
func TestBounded_KeepsWholeRoutesSickFirst(t *testing.T) {
	var states []proxy.TargetState
	for r := range 30 {
		for i := range 40 {
			states = append(states, proxy.TargetState{Route: fmt.Sprintf("r%02d", r), Target: fmt.Sprintf("http://t%d", i),
				Healthy: r != 29 || i != 0})
		}
	}
	got := bounded(states, map[targetKey]targetSeen{})
	perRoute := map[string]int{}
	for _, th := range got {
		perRoute[th.GetRoute()]++
	}
	if len(got) > MaxReportTargets || perRoute["r29"] != 40 {
		t.Errorf("got %d entries, %d of the sick route r29; want at most %d, all 40 of r29", len(got), perRoute["r29"], MaxReportTargets)
	}
	for r, n := range perRoute {
		if n != 40 {
			t.Errorf("route %s: %d of its 40 targets reported, want whole routes", r, n)
		}
	}
}

// The reporter skips polls that can find nothing new: same table, every target healthy, no
// active checks. A new table, or an unhealthy target, makes it walk again.
func TestHealthReporter_SkipsIdlePolls(t *testing.T) {
	a, err := New(Config{NodeID: "n"})
	if err != nil {
		t.Fatal(err)
	}
	ap := (*applier)(a)
	if _, err := ap.Apply(t.Context(), &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("web", "web.test", "http://127.0.0.1:9")}}); err != nil {
		t.Fatal(err)
	}
	h := a.targets
	if !h.mayChange() {
		t.Fatal("mayChange() = false before the first walk")
	}
	h.refresh(time.Now())
	if h.mayChange() {
		t.Error("mayChange() = true with the same table, all healthy, no active checks")
	}
	if _, err := ap.Apply(t.Context(), &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Routes: []*edgeplanev1.Route{route("api", "api.test", "http://127.0.0.1:9")}}); err != nil {
		t.Fatal(err)
	}
	if !h.mayChange() {
		t.Error("mayChange() = false after a new table")
	}
	h.refresh(time.Now())
	if len(h.last) != 2 || h.mayChange() {
		t.Errorf("after walking the new table: %d targets, mayChange %v; want 2, false", len(h.last), h.mayChange())
	}
}
