package proxy

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

// blockedBackend holds every request until release is closed, counting those it holds.
type blockedBackend struct {
	*httptest.Server
	release chan struct{}
	holding atomic.Int32
}

func newBlockedBackend(t *testing.T) *blockedBackend {
	b := &blockedBackend{release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.holding.Add(1)
		<-b.release
	}))
	t.Cleanup(b.Close)
	t.Cleanup(func() {
		select {
		case <-b.release:
		default:
			close(b.release)
		}
	})
	return b
}

func overflowValue(t *testing.T, m *metrics.Metrics, route, breaker string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "edgeplane_agent_upstream_overflow_total" {
			continue
		}
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["breaker"] == breaker {
				return mt.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestProxy_CircuitBreakersShedLoadAtOnce(t *testing.T) {
	tests := []struct {
		name            string
		cb              *edgeplanev1.CircuitBreakers
		held, waiting   int    // requests the backend holds, requests waiting for a connection
		breaker         string // the counter of the refused ones
		refusedAtOnceOf int    // clients
	}{
		{"max_pending_requests", &edgeplanev1.CircuitBreakers{MaxConnections: 2, MaxPendingRequests: proto.Uint32(3)}, 2, 3, "max_pending_requests", 20},
		{"max_requests", &edgeplanev1.CircuitBreakers{MaxRequests: 3}, 3, 0, "max_requests", 20},
		{"no pending allowed", &edgeplanev1.CircuitBreakers{MaxConnections: 1, MaxPendingRequests: proto.Uint32(0)}, 1, 0, "max_pending_requests", 10},
	}
	for _, tt := range tests {
		for _, mode := range []string{"fast", "net/http"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				m := metrics.New()
				slow := newBlockedBackend(t)
				p := newProxy(t, Config{Metrics: m}, &edgeplanev1.Route{Name: "cb", Hosts: []string{"cb.test"},
					Targets: targets(slow.URL), CircuitBreakers: tt.cb})
				f := paths(t, p)[mode]
				f.client.Transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
				clients := tt.refusedAtOnceOf
				statuses := make(chan int, clients)
				var wg sync.WaitGroup
				for range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						resp, _ := get(t, f, "cb.test", "/")
						statuses <- resp.StatusCode
					}()
				}
				// While the backend holds its requests, every request over the limits is
				// answered 503 without waiting for it.
				refused := clients - tt.held - tt.waiting
				got := map[int]int{}
				for range refused {
					got[<-statuses]++
				}
				if got[http.StatusServiceUnavailable] != refused {
					t.Fatalf("answers while the backend is stuck: %v, want %d×503", got, refused)
				}
				waitUntil(t, 5*time.Second, "the admitted requests to reach the backend", func() bool { return slow.holding.Load() >= int32(tt.held) })
				if n := slow.holding.Load(); n != int32(tt.held) {
					t.Errorf("backend holds %d requests, want %d (the limit)", n, tt.held)
				}
				if v := overflowValue(t, m, "cb", tt.breaker); v != float64(refused) {
					t.Errorf("edgeplane_agent_upstream_overflow_total{breaker=%q}: got %v, want %d", tt.breaker, v, refused)
				}
				close(slow.release)
				wg.Wait()
				close(statuses)
				for s := range statuses {
					if s != http.StatusOK {
						t.Errorf("a request admitted or waiting got %d after the backend answered, want 200", s)
					}
				}
			})
		}
	}
}

func TestProxy_PendingRequestGivesUpAfterConnectTimeout(t *testing.T) {
	m := metrics.New()
	slow := newBlockedBackend(t)
	p := newProxy(t, Config{Metrics: m}, &edgeplanev1.Route{Name: "pt", Hosts: []string{"pt.test"}, Targets: targets(slow.URL),
		CircuitBreakers: &edgeplanev1.CircuitBreakers{MaxConnections: 1, MaxPendingRequests: proto.Uint32(1)},
		Timeouts:        &edgeplanev1.Timeouts{Connect: durationpb.New(200 * time.Millisecond)}})
	f := paths(t, p)["fast"]
	first := make(chan int)
	go func() { // holds the one connection until the backend is released
		req, _ := http.NewRequest(http.MethodGet, f.url+"/", nil)
		req.Host = "pt.test"
		resp, err := f.client.Do(req)
		if err != nil {
			first <- 0
			return
		}
		resp.Body.Close()
		first <- resp.StatusCode
	}()
	waitUntil(t, 5*time.Second, "the first request to reach the backend", func() bool { return slow.holding.Load() == 1 })
	if resp, _ := get(t, f, "pt.test", "/"); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("waited for a connection past the connect timeout: got %d, want 503", resp.StatusCode)
	}
	if v := overflowValue(t, m, "pt", "max_connections"); v != 1 {
		t.Errorf("edgeplane_agent_upstream_overflow_total{breaker=max_connections}: got %v, want 1", v)
	}
	close(slow.release)
	if s := <-first; s != http.StatusOK {
		t.Errorf("the request holding the connection: got %d, want 200", s)
	}
}
