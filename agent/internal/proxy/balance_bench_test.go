package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// BenchmarkPickPolicies measures one pick of each policy over 8 targets weighted 1..8 (and
// hashing over equal weights, which needs no logarithm), the per-request cost of
// balancing: it must not allocate (run with -benchmem).
func BenchmarkPickPolicies(b *testing.B) {
	now := time.Now().UnixNano()
	var ts []*target
	for i := range 8 {
		tg, _ := newTarget(fmt.Sprintf("http://10.0.0.%d", i+1))
		ts = append(ts, tg)
	}
	key := hashString("session-4711")
	equal := []uint32{1, 1, 1, 1, 1, 1, 1, 1}
	for _, pol := range []struct {
		name    string
		p       lbPolicy
		weights []uint32
	}{{"round_robin", lbRoundRobin, weightsUpTo(8)}, {"least_request", lbLeastRequest, weightsUpTo(8)},
		{"hash", lbHash, weightsUpTo(8)}, {"hash_equal_weights", lbHash, equal}} {
		b.Run(pol.name, func(b *testing.B) {
			p := newPicker(ts, pol.weights, DefaultPanicThreshold)
			p.policy = pol.p
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if p.pick(now, nil, key) == nil {
						b.Error("no target")
					}
				}
			})
		})
	}
}

// serialBackend serves one request at a time, each taking d: a backend with one worker,
// whose queue grows when it gets more than it can do. The sleep is the simulated service
// time, not synchronisation.
func serialBackend(b *testing.B, d time.Duration) *httptest.Server {
	var mu sync.Mutex
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		time.Sleep(d)
		mu.Unlock()
	}))
	b.Cleanup(s.Close)
	return s
}

// BenchmarkLeastRequestP99 sends requests from 8 concurrent clients per CPU through the fast path
// to three single-worker backends, one 10x slower than the others (1ms and 10ms per
// request), and reports the p50 and p99 latency per policy. Round robin gives the slow
// backend a third of the requests, more than it can serve: its queue, and the p99, grow.
// Least-request sends it only what it keeps up with. Run with -benchtime=3000x.
func BenchmarkLeastRequestP99(b *testing.B) {
	for _, pol := range []edgeplanev1.LbPolicy{edgeplanev1.LbPolicy_LB_POLICY_ROUND_ROBIN, edgeplanev1.LbPolicy_LB_POLICY_LEAST_REQUEST} {
		b.Run(pol.String(), func(b *testing.B) {
			fast1, fast2, slow := serialBackend(b, time.Millisecond), serialBackend(b, time.Millisecond), serialBackend(b, 10*time.Millisecond)
			p := newProxy(b, Config{}, &edgeplanev1.Route{Name: "lr", Hosts: []string{"lr.test"},
				Targets: targets(fast1.URL, slow.URL, fast2.URL), LoadBalancer: &edgeplanev1.LoadBalancer{Policy: pol}})
			addr := serveFast(b, p)
			tr := &http.Transport{MaxIdleConnsPerHost: 64}
			b.Cleanup(tr.CloseIdleConnections)
			client := &http.Client{Transport: tr}
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			b.SetParallelism(8) // 8 clients per CPU: 16 on the 2-CPU machine the README figure is from
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
					req.Host = "lr.test"
					start := time.Now()
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					d := time.Since(start)
					mu.Lock()
					lat = append(lat, d)
					mu.Unlock()
				}
			})
			b.StopTimer()
			if len(lat) == 0 {
				return // every request failed: reported by b.Error
			}
			slices.Sort(lat)
			ms := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(ms(0.50), "p50-ms")
			b.ReportMetric(ms(0.99), "p99-ms")
		})
	}
}
