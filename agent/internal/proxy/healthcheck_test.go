package proxy

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// waitUntil polls cond until it holds, failing the test after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkedBackend answers /healthz with 200 while healthy is set (503 otherwise) and any
// other path with its name in the Backend header, counting those requests.
type checkedBackend struct {
	*httptest.Server
	healthy atomic.Bool
	hits    atomic.Int32
}

func newCheckedBackend(t *testing.T, name string) *checkedBackend {
	b := &checkedBackend{}
	b.healthy.Store(true)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			if !b.healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		b.hits.Add(1)
		w.Header().Set("Backend", name)
	}))
	t.Cleanup(b.Close)
	return b
}

// fastCheck is a health check as quick as the bounds allow, for tests.
func fastCheck() *edgeplanev1.HealthCheck {
	return &edgeplanev1.HealthCheck{Path: "/healthz", Interval: durationpb.New(100 * time.Millisecond),
		Timeout: durationpb.New(50 * time.Millisecond), HealthyThreshold: 1, UnhealthyThreshold: 1}
}

// steadyCheck is fastCheck with a timeout a loaded machine does not reach: a test that fails a
// target by its answer (503) must not see healthy targets fail by a slow probe (with two of
// three down the route enters panic mode and serves the failed one too).
func steadyCheck() *edgeplanev1.HealthCheck {
	hc := fastCheck()
	hc.Timeout = durationpb.New(3 * time.Second)
	return hc
}

func activeStatus(p *Proxy, route string, i int) int32 {
	return p.Table().route(route).up.targets[i].active.status.Load()
}

func TestChecks_ProbersFollowConfig(t *testing.T) {
	a, b := newCheckedBackend(t, "a"), newCheckedBackend(t, "b")
	p := newProxy(t, Config{})
	r := func(name string, hc *edgeplanev1.HealthCheck, urls ...string) *edgeplanev1.Route {
		return &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}, Targets: targets(urls...), HealthCheck: hc}
	}
	steps := []struct {
		name   string
		routes []*edgeplanev1.Route
		want   int32
	}{
		{"two routes, three distinct targets (one listed twice)", []*edgeplanev1.Route{
			r("r1", fastCheck(), a.URL, b.URL, a.URL), r("r2", fastCheck(), a.URL), r("plain", nil, b.URL)}, 3},
		{"a target removed", []*edgeplanev1.Route{r("r1", fastCheck(), a.URL), r("r2", fastCheck(), a.URL)}, 2},
		{"a route deleted", []*edgeplanev1.Route{r("r1", fastCheck(), a.URL)}, 1},
		{"checks turned off", []*edgeplanev1.Route{r("r1", nil, a.URL)}, 0},
		{"checks back on", []*edgeplanev1.Route{r("r1", fastCheck(), a.URL, b.URL)}, 2},
		{"every route deleted", nil, 0},
	}
	for _, s := range steps {
		apply(t, p, &edgeplanev1.ConfigUpdate{Routes: s.routes})
		// Swap waits for the probers it stops: the count is exact when it returns.
		if got := p.checks.live.Load(); got != s.want {
			t.Fatalf("%s: %d probers running, want %d", s.name, got, s.want)
		}
	}
	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{r("r1", fastCheck(), a.URL)}})
	p.Close()
	if got := p.checks.live.Load(); got != 0 {
		t.Fatalf("after Close: %d probers running, want 0", got)
	}
	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{r("r1", fastCheck(), a.URL)}})
	if got := p.checks.live.Load(); got != 0 {
		t.Fatalf("a Swap after Close started %d probers, want 0", got)
	}
}

func TestChecks_UnrelatedChangeKeepsProberAndVerdict(t *testing.T) {
	a, b := newCheckedBackend(t, "a"), newCheckedBackend(t, "b")
	a.healthy.Store(false)
	rt := &edgeplanev1.Route{Name: "k", Hosts: []string{"k.test"}, Targets: targets(a.URL, b.URL), HealthCheck: fastCheck()}
	p := newProxy(t, Config{}, rt)
	waitUntil(t, 5*time.Second, "target a to fail its checks", func() bool { return activeStatus(p, "k", 0) == activeDown })
	before := p.Table().route("k").up.targets[0].active
	changed := &edgeplanev1.Route{Name: "k", Hosts: []string{"k.test", "k2.test"}, Targets: targets(a.URL, b.URL), HealthCheck: fastCheck()}
	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{changed}})
	after := p.Table().route("k").up.targets[0].active
	if after != before || activeStatus(p, "k", 0) != activeDown {
		t.Errorf("a host added to the route: got a new prober (%v) or lost its verdict; want the same prober, still down", after != before)
	}
	other := fastCheck()
	other.Path = "/other"
	apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{{Name: "k", Hosts: []string{"k.test"},
		Targets: targets(a.URL, b.URL), HealthCheck: other}}})
	if p.Table().route("k").up.targets[0].active == before {
		t.Error("the check's path changed: want a new prober")
	}
}

func TestProxy_ActiveCheckTakesTargetOut(t *testing.T) {
	for _, mode := range []string{"fast", "net/http"} {
		t.Run(mode, func(t *testing.T) {
			a, b := newCheckedBackend(t, "a"), newCheckedBackend(t, "b")
			p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "ac", Hosts: []string{"ac.test"},
				Targets: targets(a.URL, b.URL), HealthCheck: fastCheck()})
			f := paths(t, p)[mode]
			waitUntil(t, 5*time.Second, "both targets checked", func() bool {
				return activeStatus(p, "ac", 0) == activeUp && activeStatus(p, "ac", 1) == activeUp
			})
			a.healthy.Store(false)
			waitUntil(t, 5*time.Second, "target a to fail its checks", func() bool { return activeStatus(p, "ac", 0) == activeDown })
			a.hits.Store(0)
			for i := range 100 {
				if resp, _ := get(t, f, "ac.test", "/"); resp.StatusCode != 200 || resp.Header.Get("Backend") != "b" {
					t.Fatalf("request %d with a failing its checks: got %d from %q, want 200 from b", i, resp.StatusCode, resp.Header.Get("Backend"))
				}
			}
			if n := a.hits.Load(); n != 0 {
				t.Fatalf("target a failing its checks got %d client requests, want 0", n)
			}
			a.healthy.Store(true)
			waitUntil(t, 5*time.Second, "target a to pass its checks again", func() bool { return activeStatus(p, "ac", 0) == activeUp })
			counts := map[string]int{}
			for range 100 {
				resp, _ := get(t, f, "ac.test", "/")
				counts[resp.Header.Get("Backend")]++
			}
			if counts["a"] != 50 || counts["b"] != 50 {
				t.Errorf("a back in rotation: got %v, want a:50 b:50", counts)
			}
		})
	}
}

// hanging returns the URL of a backend that accepts connections and reads requests but
// never answers.
func hanging(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestProxy_ActiveCheckEjectsBackendThatNeverAnswers(t *testing.T) {
	good := newCheckedBackend(t, "good")
	hang := hanging(t)
	p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "hang", Hosts: []string{"hang.test"},
		Targets: targets(hang, good.URL), HealthCheck: fastCheck(),
		// A request sent to the silent target would wait this long, then fail with 504.
		Timeouts: &edgeplanev1.Timeouts{Response: durationpb.New(5 * time.Second)}})
	waitUntil(t, 5*time.Second, "the silent target to fail its checks by timeout", func() bool {
		return activeStatus(p, "hang", 0) == activeDown
	})
	if h := p.Table().route("hang").up.targets[0].healthState(nanotime()); h.Active != ActiveUnhealthy || !strings.Contains(h.ActiveError, "deadline") {
		t.Errorf("healthState() = %+v, want unhealthy with a timeout error", h)
	}
	for mode, f := range paths(t, p) {
		for i := range 20 {
			if resp, _ := get(t, f, "hang.test", "/"); resp.StatusCode != 200 {
				t.Fatalf("%s: request %d: got %d, want 200 from the answering target", mode, i, resp.StatusCode)
			}
		}
	}
}

// With active checks on, a target killed under steady POST load loses no request sent after
// it died: those picked for it before its checks fail cannot connect (nothing was sent) and
// go to another target; after that it gets none. A POST written onto a kept connection at
// the instant the backend closes it is lost (the agent cannot know whether the backend
// read it, and a POST is not sent twice): at most one per client in flight at the kill.
func TestProxy_ActiveChecksKillUnderPostLoadLosesNothing(t *testing.T) {
	weights := []uint32{3, 1, 1}
	const clients = 4
	for victim := range weights {
		t.Run(fmt.Sprintf("kill target %d", victim), func(t *testing.T) {
			rt := &edgeplanev1.Route{Name: "kill", Hosts: []string{"kill.test"}, HealthCheck: fastCheck()}
			var backends []*checkedBackend
			for i, w := range weights {
				b := newCheckedBackend(t, fmt.Sprint(i))
				backends = append(backends, b)
				rt.Targets = append(rt.Targets, &edgeplanev1.Target{Url: b.URL, Weight: w})
			}
			p := newProxy(t, Config{}, rt)
			f := paths(t, p)["fast"]
			var sent, during, after atomic.Int32
			var dead atomic.Bool
			stop := make(chan struct{})
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						sentAfterKill := dead.Load()
						if resp, _ := do(t, f, http.MethodPost, "kill.test", "/", strings.NewReader("order")); resp.StatusCode != 200 {
							if sentAfterKill {
								after.Add(1)
							} else {
								during.Add(1)
							}
						}
						sent.Add(1)
					}
				}()
			}
			waitUntil(t, 10*time.Second, "100 POSTs", func() bool { return sent.Load() >= 100 })
			backends[victim].Close()
			dead.Store(true)
			killedAt := sent.Load()
			waitUntil(t, 10*time.Second, "the killed target to fail its checks", func() bool { return activeStatus(p, "kill", victim) == activeDown })
			waitUntil(t, 20*time.Second, "300 more POSTs", func() bool { return sent.Load() >= killedAt+300 })
			close(stop)
			wg.Wait()
			if n := after.Load(); n != 0 {
				t.Errorf("%d POSTs sent after the kill failed, want 0", n)
			}
			if n := during.Load(); n > clients {
				t.Errorf("%d POSTs in flight at the kill failed, want at most %d (one per client)", n, clients)
			}
			t.Logf("%d POSTs, %d lost in flight at the kill", sent.Load(), during.Load())
		})
	}
}

func TestProxy_BuildRefusesWhatItCannotCheckOrHash(t *testing.T) {
	a := newCheckedBackend(t, "a")
	tests := []struct {
		name string
		r    *edgeplanev1.Route
		want string
	}{
		{"relative check path", &edgeplanev1.Route{HealthCheck: &edgeplanev1.HealthCheck{Path: "healthz"}}, "health_check.path"},
		{"check path with CRLF", &edgeplanev1.Route{HealthCheck: &edgeplanev1.HealthCheck{Path: "/h\r\nX: y"}}, "health_check.path"},
		{"hash without key", &edgeplanev1.Route{LoadBalancer: &edgeplanev1.LoadBalancer{Policy: edgeplanev1.LbPolicy_LB_POLICY_HASH}}, "LB_POLICY_HASH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProxy(t, Config{})
			tt.r.Name, tt.r.Hosts, tt.r.Targets = "bad", []string{"bad.test"}, targets(a.URL)
			_, err := p.Build(mustSet(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{tt.r}}))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"bad"`) {
				t.Errorf("Build() error = %v, want one naming route \"bad\" and %s", err, tt.want)
			}
		})
	}
}

// Without active checks, passive health takes out a backend that accepts connections but
// never answers: each request to it fails at the response timeout (504), and after
// consecutive_failures of them it gets no more.
func TestProxy_PassiveHealthEjectsBackendThatNeverAnswers(t *testing.T) {
	good := newCheckedBackend(t, "good")
	hang := hanging(t)
	p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "ph", Hosts: []string{"ph.test"},
		Targets: targets(hang, good.URL), OutlierDetection: &edgeplanev1.OutlierDetection{ConsecutiveFailures: 2},
		Timeouts: &edgeplanev1.Timeouts{Response: durationpb.New(100 * time.Millisecond)}})
	statuses := map[int]int{}
	for _, f := range paths(t, p) { // one proxy: the ejection holds for both paths
		for range 40 {
			resp, _ := get(t, f, "ph.test", "/")
			statuses[resp.StatusCode]++
		}
	}
	if statuses[http.StatusGatewayTimeout] != 2 || statuses[http.StatusOK] != 78 {
		t.Errorf("got %v, want 2×504 (the threshold), then only 200s", statuses)
	}
}
