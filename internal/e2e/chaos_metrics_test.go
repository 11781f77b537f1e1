package e2e

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// meter is the suite's metered traffic: the steady GETs go to a host of their own per fault
// (f<k>.metered.test, under the steady route's *.metered.test), so GetMetrics for that host
// must count exactly the requests the suite's clients got an answer for during the fault
// (request tracing is on: the replicas send the agents --agent-redis-url).
type meter struct {
	host atomic.Pointer[string]

	mu       sync.Mutex // guards answered
	answered map[string]int64
	// overflowSeen is GetMetrics' count under overflowHost with the metered route (steady)
	// when the last fault's count was taken: only the faults' metered traffic takes that
	// route, so what is there beyond it is the current fault's.
	overflowSeen int64
}

// betweenHost is where the metered traffic goes between faults: a route of its own
// ("between"), so that none of it is counted with the faults' route (steady).
const betweenHost = "between.test"

func newMeter() *meter {
	m := &meter{answered: map[string]int64{}}
	m.next(0)
	return m
}

// next points the traffic at fault k's host, betweenHost for k == 0.
func (m *meter) next(k int) string {
	h := fmt.Sprintf("f%d.metered.test", k)
	if k == 0 {
		h = betweenHost
	}
	m.host.Store(&h)
	return h
}

// traffic sends GETs through a, one after the other, to the meter's current host, counting
// 200s and the rest, and every answer per host, until stop is called.
func (m *meter) traffic(a *agent, served, failed *atomic.Int64) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			default:
			}
			host := *m.host.Load()
			code, _, err := a.Get(host, "/")
			if err == nil {
				m.mu.Lock()
				m.answered[host]++
				m.answered[host+"@"+a.Node]++
				m.mu.Unlock()
			}
			if err != nil || code != http.StatusOK {
				failed.Add(1)
			} else {
				served.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() { close(done); <-exited }
}

// overflowHost is the host GetMetrics counts a 10 s window's series beyond its cap (1000
// (host, route) series a window, metrics.Config.MaxSeries) under, with their route. The
// suite's own check that every acknowledged route is served (missing: one GET per route and
// agent, 3,600 routes after a 30 s partition) makes thousands of hosts in a few seconds, so a
// fault that starts in the same window has its metered host's first records counted there.
const overflowHost = "(other)"

// exact waits (up to 60 s: a record a killed replica had read is claimed by another after
// 30 s idle, looked for every 15 s) until GetMetrics through cp counts host's requests as the
// clients' answers do: those counted under host itself plus the fault's share of those counted
// under overflowHost with the metered route (steady), over the last 24 h, beyond
// overflowSeen. It returns the two counts and the clients' answers; the invariant is
// counted+overflow == answered.
func (m *meter) exact(e *chaosEnv, cp *control, host string, window time.Duration) (counted, overflow, answered int64) {
	tel := edgeplanev1.NewTelemetryServiceClient(cp.conn)
	deadline := time.Now().Add(60 * time.Second)
	var total int64
	for {
		m.mu.Lock()
		answered = m.answered[host]
		m.mu.Unlock()
		c, errH := m.count(e, tel, host, "", window)
		o, errO := m.count(e, tel, overflowHost, "steady", 24*time.Hour)
		if errH == nil && errO == nil {
			counted, total, overflow = c, o, o-m.overflowSeen
		}
		if (errH == nil && errO == nil && counted+overflow == answered) || time.Now().After(deadline) {
			m.overflowSeen = total
			if counted != answered {
				e.t.Logf("metrics for %s: %d counted, %d more under %q (route steady), %d answered", host, counted, overflow, overflowHost, answered)
			}
			if counted+overflow != answered {
				e.traceDiag(host)
			}
			return counted, overflow, answered
		}
		time.Sleep(200 * time.Millisecond) // polling the consumer's progress
	}
}

// count sums GetMetrics' requests of host (and route, if not "") over window.
func (m *meter) count(e *chaosEnv, tel edgeplanev1.TelemetryServiceClient, host, route string, window time.Duration) (int64, error) {
	res, err := tel.GetMetrics(e.t.Context(), &edgeplanev1.GetMetricsRequest{Host: host, Window: durationpb.New(window)})
	if err != nil {
		return 0, err
	}
	var n int64
	for _, x := range res.GetMetrics() {
		if x.GetHost() == host && (route == "" || x.GetRoute() == route) {
			n += x.GetRequests()
		}
	}
	return n, nil
}

// traceDiag logs, per agent, the answers for host and the agent's request-record counters
// and telemetry log lines (diagnostics of a metrics shortfall).
func (e *chaosEnv) traceDiag(host string) {
	for _, a := range e.agents {
		e.meter.mu.Lock()
		n := e.meter.answered[host+"@"+a.Node]
		e.meter.mu.Unlock()
		var counters []string
		if e.net != nil {
			ip, _, _ := net.SplitHostPort(a.Addr)
			if res, err := http.Get("http://" + net.JoinHostPort(ip, "9100") + "/metrics"); err == nil {
				b, _ := io.ReadAll(res.Body)
				res.Body.Close()
				for _, l := range strings.Split(string(b), "\n") {
					if strings.HasPrefix(l, "edgeplane_agent_traces_") {
						counters = append(counters, l)
					}
				}
			}
		}
		e.t.Logf("%s answered %d for %s; %v", a.Node, n, host, counters)
		for _, l := range a.proc.Lines() {
			if msg, _ := l["msg"].(string); strings.Contains(msg, "request records") || l["component"] == "telemetry" {
				e.t.Logf("%s log: %v", a.Node, l)
			}
		}
	}
}
