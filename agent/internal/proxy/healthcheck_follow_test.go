package proxy

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// A proxy that follows its agent's checks probes nothing: its targets' health is what the
// agent's probers found, kept across table rebuilds, and a target checked only later starts
// from the latest result given for it.
func TestChecks_FollowerProbesNothingAndTakesResults(t *testing.T) {
	var probes atomic.Int32
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			probes.Add(1)
		}
	}))
	t.Cleanup(down.Close)
	b := newCheckedBackend(t, "b")
	r := func(name string, urls ...string) *edgeplanev1.Route {
		return &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}, Targets: targets(urls...), HealthCheck: fastCheck()}
	}
	p := newProxy(t, Config{FollowChecks: true}, r("f", down.URL, b.URL))
	time.Sleep(300 * time.Millisecond) // three check intervals
	if n := probes.Load(); n != 0 {
		t.Fatalf("a follower probed its target %d times, want none", n)
	}
	if got := activeStatus(p, "f", 0); got != activeUnknown {
		t.Fatalf("before any result: status %d, want unknown (in rotation)", got)
	}

	p.FollowActiveChecks([]ActiveCheck{{Route: "f", Target: down.URL, Up: false, LastErr: "status 503, want 200-399"},
		{Route: "f", Target: b.URL, Up: true}, {Route: "later", Target: down.URL, Up: false}})
	if activeStatus(p, "f", 0) != activeDown || activeStatus(p, "f", 1) != activeUp {
		t.Fatalf("after the results: statuses %d %d, want down and up", activeStatus(p, "f", 0), activeStatus(p, "f", 1))
	}
	for _, s := range p.TargetHealth() {
		if s.Target == down.URL && (s.Healthy || s.Reason != "failing active health checks: status 503, want 200-399") {
			t.Errorf("reported %+v, want unhealthy with the agent's reason", s)
		}
	}
	f := paths(t, p)["fast"]
	for range 20 {
		if resp, _ := get(t, f, "f.test", "/"); resp.Header.Get("Backend") != "b" {
			t.Fatalf("served by %q, want only b (the other failed the agent's checks)", resp.Header.Get("Backend"))
		}
	}

	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{r("f", down.URL, b.URL), r("later", down.URL)}})
	if activeStatus(p, "f", 0) != activeDown {
		t.Error("a table rebuild lost the followed result")
	}
	if activeStatus(p, "later", 0) != activeDown {
		t.Error("a route checked after its result was given does not start from it")
	}
	if n := probes.Load(); n != 0 {
		t.Errorf("a follower probed %d times after the rebuild, want none", n)
	}

	p.FollowActiveChecks([]ActiveCheck{{Route: "f", Target: down.URL, Up: true, UpSince: time.Now()}})
	if activeStatus(p, "f", 0) != activeUp {
		t.Error("a target back up in the agent's checks is not back in rotation")
	}
	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{r("f", b.URL)}})
	if n := len(p.checks.followed); n != 1 {
		t.Errorf("%d followed results kept after the table dropped targets, want 1 (only the one still checked)", n)
	}
}

// The agent reads its probers' results to relay them: unchecked targets are left out.
func TestProxy_ActiveChecksListsCheckedTargets(t *testing.T) {
	a, b := newCheckedBackend(t, "a"), newCheckedBackend(t, "b")
	b.healthy.Store(false)
	p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "k", Hosts: []string{"k.test"}, Targets: targets(a.URL, b.URL), HealthCheck: fastCheck()})
	waitUntil(t, 5*time.Second, "both targets checked", func() bool { return len(p.ActiveChecks()) == 2 })
	for _, c := range p.ActiveChecks() {
		if c.Route != "k" || (c.Target == a.URL) != c.Up || (c.Target == b.URL) != (c.LastErr != "") {
			t.Errorf("check %+v: want a up, b down with its error", c)
		}
	}
}
