package dashboard

import (
	"sync"
	"time"
)

// Bounds of the charts' memory.
const (
	historySamples = 120              // per route
	historyRoutes  = 256              // routes remembered
	historyEvery   = time.Second      // at most one sample per route per this
	historyMaxAge  = 10 * time.Minute // older samples are dropped
)

// sample is one point of a route's charts.
type sample struct {
	at            time.Time
	rate          float64
	p50, p95, p99 time.Duration
}

// history remembers, per route, the traffic seen each time its page was rendered, so its
// charts move while someone watches. It is in memory, per replica, and bounded.
type history struct {
	mu     sync.Mutex // guards routes
	routes map[string][]sample
}

func newHistory() *history { return &history{routes: map[string][]sample{}} }

// record adds t as a sample of route (unless one was taken within historyEvery) and returns
// the route's samples, oldest first.
func (h *history) record(route string, t traffic, now time.Time) []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.routes[route]
	for len(s) > 0 && now.Sub(s[0].at) > historyMaxAge {
		s = s[1:]
	}
	if len(s) == 0 || now.Sub(s[len(s)-1].at) >= historyEvery {
		if _, known := h.routes[route]; !known && len(h.routes) >= historyRoutes {
			h.evictOldest()
		}
		s = append(s, sample{at: now, rate: t.Rate(), p50: t.P50, p95: t.P95, p99: t.P99})
		if len(s) > historySamples {
			s = s[len(s)-historySamples:]
		}
	}
	h.routes[route] = s
	return append([]sample(nil), s...)
}

// evictOldest drops the route sampled longest ago.
func (h *history) evictOldest() {
	oldest, at := "", time.Time{}
	for r, s := range h.routes {
		if len(s) == 0 {
			oldest = r
			break
		}
		if last := s[len(s)-1].at; oldest == "" || last.Before(at) {
			oldest, at = r, last
		}
	}
	delete(h.routes, oldest)
}
