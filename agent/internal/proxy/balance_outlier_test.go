package proxy

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
)

// newTestPicker returns a picker over len(weights) bare targets, with those at dead ejected
// until now+1m.
func newTestPicker(weights []uint32, dead []int, panicBelow int, now int64) (*picker, []*target) {
	ts := make([]*target, len(weights))
	for i := range ts {
		ts[i] = &target{}
	}
	p := newPicker(ts, weights, panicBelow)
	for _, i := range dead {
		ts[i].ejectedUntil.Store(now + int64(time.Minute))
	}
	p.rebuild(now)
	return p, ts
}

func weightsUpTo(n int) []uint32 {
	var w []uint32
	for i := 1; i <= n; i++ {
		w = append(w, uint32(i))
	}
	return w
}

func TestPicker_HealthyByWeight(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		dead    []int
	}{
		{"3:1 none dead", []uint32{3, 1}, nil},
		{"3:1 heavy dead", []uint32{3, 1}, []int{0}},
		{"1:3 heavy dead", []uint32{1, 3}, []int{1}},
		{"1:1:1 one dead", []uint32{1, 1, 1}, []int{1}},
		{"1..10 heaviest three dead", weightsUpTo(10), []int{7, 8, 9}},
		{"1..16 five dead", weightsUpTo(16), []int{0, 3, 8, 12, 15}},
	}
	now := time.Now().UnixNano()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ts := newTestPicker(tt.weights, tt.dead, DefaultPanicThreshold, now)
			var healthyTotal int
			for i, w := range tt.weights {
				if !slices.Contains(tt.dead, i) {
					healthyTotal += int(w)
				}
			}
			counts := map[*target]int{}
			const rounds = 7
			for range rounds * healthyTotal {
				counts[p.pick(now, nil, hashKey{})]++
			}
			for i, w := range tt.weights {
				want := rounds * int(w)
				if slices.Contains(tt.dead, i) {
					want = 0
				}
				if got := counts[ts[i]]; got != want {
					t.Errorf("target %d (weight %d): picked %d times in %d, want %d", i, w, got, rounds*healthyTotal, want)
				}
			}
		})
	}
}

func TestPicker_PanicMode(t *testing.T) {
	tests := []struct {
		name       string
		weights    []uint32
		dead       []int
		panicBelow int
		want       bool
	}{
		{"half healthy by count is enough", []uint32{3, 1}, []int{0}, 50, false},
		{"one of three", []uint32{1, 1, 1}, []int{0, 1}, 50, true},
		{"one of three, threshold 30", []uint32{1, 1, 1}, []int{0, 1}, 30, false},
		{"none healthy, threshold 0", []uint32{1, 1}, []int{0, 1}, 0, true},
		{"four of ten", weightsUpTo(10), []int{0, 1, 2, 3, 4, 5}, 50, true},
		{"seven of ten", weightsUpTo(10), []int{7, 8, 9}, 50, false},
	}
	now := time.Now().UnixNano()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ts := newTestPicker(tt.weights, tt.dead, tt.panicBelow, now)
			if got := p.set.Load().panic; got != tt.want {
				t.Fatalf("panic mode: got %v, want %v", got, tt.want)
			}
			picked := map[*target]bool{}
			for range 200 {
				picked[p.pick(now, nil, hashKey{})] = true
			}
			for _, i := range tt.dead {
				if picked[ts[i]] != tt.want {
					t.Errorf("ejected target %d picked: got %v, want %v (only in panic mode)", i, picked[ts[i]], tt.want)
				}
			}
		})
	}
}

func TestPicker_PanicModeEntersAndLeaves(t *testing.T) {
	now := time.Now().UnixNano()
	p, ts := newTestPicker([]uint32{1, 1, 1}, nil, DefaultPanicThreshold, now)
	var changes []bool
	p.onPanic = func(enter bool, _, _ int, _ int64) { changes = append(changes, enter) }
	ts[0].ejectedUntil.Store(now + 100)
	p.rebuild(now)
	ts[1].ejectedUntil.Store(now + 200)
	p.rebuild(now)
	if !p.set.Load().panic {
		t.Fatal("two of three ejected: want panic mode")
	}
	p.pick(now+150, nil, hashKey{}) // target 0 is back: two of three healthy
	if p.set.Load().panic {
		t.Error("two of three healthy: want panic mode left")
	}
	counts := map[*target]int{}
	for range 100 {
		counts[p.pick(now+150, nil, hashKey{})]++
	}
	if counts[ts[1]] != 0 || counts[ts[0]] != 50 || counts[ts[2]] != 50 {
		t.Errorf("after target 0 returned: got picks %d/%d/%d, want 50/0/50", counts[ts[0]], counts[ts[1]], counts[ts[2]])
	}
	p.pick(now+200, nil, hashKey{})
	if s := p.set.Load(); s.idx != nil || s.bal != p.all {
		t.Error("every target back: want the all-targets balancer")
	}
	if want := []bool{true, false}; !slices.Equal(changes, want) {
		t.Errorf("panic transitions: got %v, want %v", changes, want)
	}
}

func TestTarget_BackoffDoubles(t *testing.T) {
	sec := int64(time.Second)
	h := healthConfig{after: 2, cooldown: 10 * sec, maxCooldown: 60 * sec}
	tg := &target{}
	now := int64(1000 * sec)
	eject := func() int64 { // fails h.after times at now; returns the cooldown
		t.Helper()
		if d := tg.failed(h, now); d != 0 {
			t.Fatalf("ejected after one failure (cooldown %v)", time.Duration(d))
		}
		return tg.failed(h, now)
	}
	for i, want := range []int64{10, 20, 40, 60, 60} {
		d := eject()
		if d != want*sec {
			t.Fatalf("ejection %d: cooldown %v, want %v", i+1, time.Duration(d), time.Duration(want*sec))
		}
		if got := tg.failed(h, now+d-1) + tg.failed(h, now+d-1); got != 0 {
			t.Fatalf("ejection %d: failures while ejected ejected it again", i+1)
		}
		now += d + sec // back in rotation shortly after the cooldown
	}
	now += 60 * sec // in rotation for maxCooldown since the last cooldown ended
	if d := eject(); d != 10*sec {
		t.Errorf("after a healthy spell: cooldown %v, want the base 10s", time.Duration(d))
	}
}

// flaky is a backend answering with its name until closed; closing it mid-test is a
// backend dying under traffic.
func flaky(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Backend", name)
	}))
	t.Cleanup(s.Close)
	return s
}

func TestProxy_OutlierEjection(t *testing.T) {
	tests := []struct {
		name       string
		weights    []uint32
		dead       []int
		panicBelow int
	}{
		{"3:1 heavy dies", []uint32{3, 1}, []int{0}, 0},
		{"1:3 heavy dies", []uint32{1, 3}, []int{1}, 0},
		{"1:1:1 one dies", []uint32{1, 1, 1}, []int{2}, 0},
		{"1:1:1 two die, threshold 30", []uint32{1, 1, 1}, []int{0, 2}, 30},
		{"1..10 heaviest three die", weightsUpTo(10), []int{7, 8, 9}, 0},
	}
	const after = 4 // the route's consecutive_failures; the agent's default is 5
	for _, tt := range tests {
		for _, mode := range []string{"fast", "net/http"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				rt := &edgeplanev1.Route{Name: "o", Hosts: []string{"o.test"},
					OutlierDetection: &edgeplanev1.OutlierDetection{ConsecutiveFailures: after}}
				if tt.panicBelow != 0 {
					rt.OutlierDetection.HealthyPanicThreshold = proto.Uint32(uint32(tt.panicBelow))
				}
				var backends []*httptest.Server
				for i, w := range tt.weights {
					s := flaky(t, fmt.Sprint(i))
					backends = append(backends, s)
					rt.Targets = append(rt.Targets, &edgeplanev1.Target{Url: s.URL, Weight: w})
				}
				p := newProxy(t, Config{}, rt)
				f := paths(t, p)[mode]
				post := func() (int, string) {
					resp, _ := do(t, f, http.MethodPost, "o.test", "/", strings.NewReader("x")) // never retried
					return resp.StatusCode, resp.Header.Get("Backend")
				}
				for range 50 {
					if code, _ := post(); code != 200 {
						t.Fatalf("before any backend died: got %d, want 200", code)
					}
				}
				for _, i := range tt.dead {
					backends[i].Close()
				}
				var healthyTotal int
				for i, w := range tt.weights {
					if !slices.Contains(tt.dead, i) {
						healthyTotal += int(w)
					}
				}
				var failed, lastFail int
				counts := map[string]int{}
				for n := range 600 {
					code, backend := post()
					if code != 200 {
						failed, lastFail = failed+1, n
						clear(counts)
						continue
					}
					counts[backend]++
				}
				if maxFail := after * len(tt.dead); failed > maxFail {
					t.Fatalf("%d POSTs failed (the last at %d of 600), want at most %d (the ejection threshold per dead target)", failed, lastFail, maxFail)
				}
				// After the last ejection every pick follows the healthy targets' weights.
				served := 600 - lastFail - 1
				for i, w := range tt.weights {
					want := float64(served) * float64(w) / float64(healthyTotal)
					if slices.Contains(tt.dead, i) {
						want = 0
					}
					if got := float64(counts[fmt.Sprint(i)]); got < want-2 || got > want+2 {
						t.Errorf("target %d (weight %d): %v of the last %d requests, want %.1f±2", i, w, got, served, want)
					}
				}
			})
		}
	}
}

func TestProxy_Eject5xxWhenRouteOptsIn(t *testing.T) {
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	}))
	t.Cleanup(failing.Close)
	good := flaky(t, "good")
	for _, count := range []bool{false, true} {
		for _, mode := range []string{"fast", "net/http"} {
			t.Run(fmt.Sprintf("count_5xx=%v/%s", count, mode), func(t *testing.T) {
				p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "x", Hosts: []string{"x.test"}, Targets: targets(failing.URL, good.URL),
					OutlierDetection: &edgeplanev1.OutlierDetection{ConsecutiveFailures: 3, Count_5Xx: count}})
				f := paths(t, p)[mode]
				var errors int
				for range 100 {
					if resp, _ := do(t, f, http.MethodPost, "x.test", "/", strings.NewReader("x")); resp.StatusCode == 500 {
						errors++
					}
				}
				want := 50 // 5xx answers are answers: the target stays in rotation
				if count {
					want = 3
				}
				if errors != want {
					t.Errorf("got %d of 100 answered 500, want %d", errors, want)
				}
			})
		}
	}
}

func TestProxy_PanicModeCounted(t *testing.T) {
	m := metrics.New()
	a, b, c := flaky(t, "a"), flaky(t, "b"), flaky(t, "c")
	p := newProxy(t, Config{EjectAfter: 2, Metrics: m}, &edgeplanev1.Route{Name: "pm", Hosts: []string{"pm.test"},
		Targets: targets(a.URL, b.URL, c.URL), RetryPolicy: &edgeplanev1.RetryPolicy{MaxAttempts: 1}}) // no retries: each request is one pick
	f := paths(t, p)["fast"]
	a.Close()
	b.Close()
	statuses := map[int]int{}
	for range 300 {
		resp, _ := do(t, f, http.MethodPost, "pm.test", "/", strings.NewReader("x"))
		statuses[resp.StatusCode]++
	}
	// Both dead targets ejected leaves one of three healthy, below 50%: the route sends to
	// all three, and many requests fail even after their one retry on connect failure.
	if statuses[200] < 50 || statuses[502] < 50 {
		t.Errorf("in panic mode: got %v, want at least 50 served and 50 failed (dead targets still tried)", statuses)
	}
	if got := counterValue(t, m, "edgeplane_agent_upstream_panic_total", "pm"); got != 1 {
		t.Errorf("edgeplane_agent_upstream_panic_total{route=pm}: got %v, want 1", got)
	}
}

func counterValue(t *testing.T, m *metrics.Metrics, name, route string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mt := range mf.GetMetric() {
			for _, l := range mt.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					return mt.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// BenchmarkPick measures choosing a target, the per-request cost of balancing, with every
// target healthy and with some ejected (a quarter, the heaviest first).
func BenchmarkPick(b *testing.B) {
	now := time.Now().UnixNano()
	for _, n := range []int{2, 16} {
		for _, ejected := range []int{0, max(n/4, 1)} {
			var dead []int
			for i := range ejected {
				dead = append(dead, n-1-i)
			}
			b.Run(fmt.Sprintf("targets=%d/ejected=%d", n, ejected), func(b *testing.B) {
				p, _ := newTestPicker(weightsUpTo(n), dead, DefaultPanicThreshold, now)
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if p.pick(now, nil, hashKey{}) == nil {
							b.Error("no target")
						}
					}
				})
			})
		}
	}
}
