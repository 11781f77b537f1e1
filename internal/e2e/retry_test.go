package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The targets of these tests are HTTP servers in the test process, so that the tries they
// receive can be counted at their listeners; "killing" one closes its listener and every
// connection, which is what the kernel does for a killed process. The agent and the
// control plane are the real binaries.

// target is one backend: it answers status with its name, counting the requests it got.
type target struct {
	name string
	URL  string
	srv  *http.Server
	hits atomic.Int64
}

func startTarget(t *testing.T, name string, status int) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{name: name, URL: "http://" + ln.Addr().String()}
	tg.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		tg.hits.Add(1)
		w.WriteHeader(status)
		io.WriteString(w, name)
	})}
	go tg.srv.Serve(ln)
	t.Cleanup(tg.Kill)
	return tg
}

// Kill closes the target's listener and connections.
func (tg *target) Kill() { tg.srv.Close() }

// load sends n requests through the agent, workers at a time, and returns the statuses in
// the order the requests were started (0 for a transport error) and the bodies.
func load(t *testing.T, a *agent, method, host string, n, workers int) (statuses []int, bodies []string) {
	t.Helper()
	statuses, bodies = make([]int, n), make([]string, n)
	tr := &http.Transport{MaxIdleConnsPerHost: workers}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				var body io.Reader
				if method == http.MethodPost {
					body = strings.NewReader("order=42")
				}
				req, _ := http.NewRequest(method, "http://"+a.Addr+"/", body)
				req.Host = host
				res, err := client.Do(req)
				if err != nil {
					continue
				}
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				statuses[i], bodies[i] = res.StatusCode, string(b)
			}
		}()
	}
	wg.Wait()
	return statuses, bodies
}

func weighted(urls []string, weights ...uint32) []*edgeplanev1.Target {
	var ts []*edgeplanev1.Target
	for i, u := range urls {
		ts = append(ts, &edgeplanev1.Target{Url: u, Weight: weights[i]})
	}
	return ts
}

// Issue 16's main test: weights 3:1:1 under steady POST load, one target killed. Passive
// health ejects it after its 5th failure in a row, so at most 5 requests fail, then none;
// with the default retry policy a POST whose connection is refused is sent to another
// target (nothing was sent), so fewer fail.
func TestTraffic_KillingOneOf3_1_1LosesAtMostThePassiveThreshold(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	weights := []uint32{3, 1, 1}
	for _, retries := range []bool{false, true} {
		for victim := range weights {
			name := fmt.Sprintf("kill-%d-retries-%v", victim, retries)
			t.Run(name, func(t *testing.T) {
				ts := []*target{startTarget(t, "t0", 200), startTarget(t, "t1", 200), startTarget(t, "t2", 200)}
				host := fmt.Sprintf("k%d-%v.test", victim, retries)
				r := &edgeplanev1.Route{Name: fmt.Sprintf("k%d-%v", victim, retries), Hosts: []string{host},
					Targets: weighted([]string{ts[0].URL, ts[1].URL, ts[2].URL}, weights...),
					// A cooldown longer than the test: "then none" is not the target's return.
					OutlierDetection: &edgeplanev1.OutlierDetection{BaseEjectionTime: durationpb.New(time.Minute)}}
				if !retries {
					r.RetryPolicy = &edgeplanev1.RetryPolicy{MaxAttempts: 1}
				}
				create(t, cp, r)
				statuses, _ := load(t, ag, http.MethodPost, host, 100, 1)
				if got := count(statuses, 200); got != 100 {
					t.Fatalf("before the kill: %d of 100 POSTs answered 200, want all", got)
				}
				ts[victim].Kill()
				statuses, bodies := load(t, ag, http.MethodPost, host, 500, 1)
				failed, last := 0, -1
				for i, s := range statuses {
					if s != 200 {
						failed, last = failed+1, i
					}
				}
				t.Logf("weights 3:1:1, target %d (weight %d) killed, retries %v: %d of 500 POSTs failed, the last at #%d",
					victim, weights[victim], retries, failed, last)
				if failed > 5 {
					t.Errorf("got %d failed POSTs after the kill, want at most 5 (the passive threshold)", failed)
				}
				if last >= 100 {
					t.Errorf("a POST failed at #%d after the kill, want none once the target is ejected", last)
				}
				if got := count(bodies[100:], ts[victim].name); got != 0 {
					t.Errorf("the killed target answered %d POSTs", got)
				}
			})
		}
	}
}

func count[T comparable](xs []T, x T) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

// In a full outage (every target answering 503, then every target dead) a route that
// retries 5xx up to 3 tries makes at most its budget of retries: 20% of its requests plus
// 1 a second over the 10 s window, where unbounded retries would triple the load.
func TestTraffic_RetryBudgetCapsRetriesInAFullOutage(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	metricsAddr := freeAddr(t)
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir(), "--metrics-addr", metricsAddr)
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	ts := []*target{startTarget(t, "t0", 503), startTarget(t, "t1", 503), startTarget(t, "t2", 503)}
	create(t, cp, &edgeplanev1.Route{Name: "outage", Hosts: []string{"outage.test"},
		Targets: weighted([]string{ts[0].URL, ts[1].URL, ts[2].URL}, 1, 1, 1),
		RetryPolicy: &edgeplanev1.RetryPolicy{MaxAttempts: 3, Retry_5Xx: true, BudgetPercent: proto.Uint32(20),
			MinRetriesPerSecond: proto.Uint32(1)}})
	ag.expectServes("outage.test", "/", http.StatusServiceUnavailable, "t")

	const workers = 4
	start := time.Now()
	hits := func() int64 { return ts[0].hits.Load() + ts[1].hits.Load() + ts[2].hits.Load() }
	hitsBefore, before := hits(), scrape(t, metricsAddr)
	const n = 400
	statuses, _ := load(t, ag, http.MethodGet, "outage.test", n, workers)
	if got := count(statuses, 503); got != n {
		t.Fatalf("%d of %d GETs answered 503, want all (the backends' answer relayed)", got, n)
	}
	tries := hits() - hitsBefore
	retries := tries - n
	after := scrape(t, metricsAddr)
	counted := after.sum("edgeplane_agent_retries_total", `route="outage"`) - before.sum("edgeplane_agent_retries_total", `route="outage"`)
	exhausted := after.sum("edgeplane_agent_retry_budget_exhausted_total", `route="outage"`)
	bound := int64(n*20/100 + 1*10 + workers)
	t.Logf("full outage (503): %d GETs, %d tries at the backends (%d retries, bound %d; %d without a budget), agent counted %v retries, %v refused by the budget",
		n, tries, retries, bound, 2*n, counted, exhausted)
	if retries > bound || retries < n*20/100-workers {
		t.Errorf("retries: got %d for %d requests, want about 20%% (at most %d)", retries, n, bound)
	}
	if int64(counted) != retries {
		t.Errorf("edgeplane_agent_retries_total: got %v, want the %d retries the backends saw", counted, retries)
	}
	if exhausted == 0 {
		t.Error("edgeplane_agent_retry_budget_exhausted_total: got 0, want the refused retries counted")
	}

	// Every target dead: connect failures are retried on another target, within the same budget.
	for _, tg := range ts {
		tg.Kill()
	}
	statuses, _ = load(t, ag, http.MethodGet, "outage.test", n, workers)
	if got := count(statuses, http.StatusBadGateway); got != n {
		t.Errorf("%d of %d GETs answered 502 with every target dead, want all", got, n)
	}
	final := scrape(t, metricsAddr)
	total := final.sum("edgeplane_agent_retries_total", `route="outage"`) - before.sum("edgeplane_agent_retries_total", `route="outage"`)
	window := time.Since(start)
	bound = int64(2*n*20/100 + 10 + 2*workers)
	t.Logf("then dead: %d more GETs in %s; %v retries in all (bound %d)", n, window.Round(time.Millisecond), total, bound)
	if window < 10*time.Second && int64(total) > bound {
		t.Errorf("retries over both phases: got %v for %d requests, want at most %d", total, 2*n, bound)
	}
}

// metrics is one scrape of the agent's Prometheus endpoint.
type metrics string

func scrape(t *testing.T, addr string) metrics {
	t.Helper()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return metrics(b)
}

// sum adds the samples of name whose labels contain every one of match.
func (m metrics) sum(name string, match ...string) float64 {
	var total float64
	for _, line := range strings.Split(string(m), "\n") {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, s := range match {
			ok = ok && strings.Contains(line, s)
		}
		var v float64
		if _, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v); ok && err == nil {
			total += v
		}
	}
	return total
}
