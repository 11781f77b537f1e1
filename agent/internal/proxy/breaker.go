package proxy

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// DefaultBreakerLimit is each circuit breaker's limit when a route leaves it unset (as
// Envoy's defaults).
const DefaultBreakerLimit = 1024

// breakerLimits are a route's per-target circuit breakers.
type breakerLimits struct {
	conns   int64 // requests holding a backend connection at once
	pending int64 // requests waiting for one
	reqs    int64 // requests in flight or waiting
	wait    time.Duration
}

func newBreakerLimits(cb *edgeplanev1.CircuitBreakers, connect time.Duration) breakerLimits {
	l := breakerLimits{conns: DefaultBreakerLimit, pending: DefaultBreakerLimit, reqs: DefaultBreakerLimit, wait: connect}
	if n := cb.GetMaxConnections(); n > 0 {
		l.conns = int64(n)
	}
	if cb != nil && cb.MaxPendingRequests != nil {
		l.pending = int64(cb.GetMaxPendingRequests())
	}
	if n := cb.GetMaxRequests(); n > 0 {
		l.reqs = int64(n)
	}
	return l
}

// breaker is one target's circuit-breaker state. A request holds one of conns slots while
// it is sent and answered (on HTTP/1.1, one backend connection); with every slot taken it
// waits, as one of at most pending, up to the route's connect timeout. Anything over a
// limit is refused at once: an overloaded target sheds load instead of piling it up.
type breaker struct {
	active  atomic.Int64  // requests holding a slot
	waiting atomic.Int64  // requests waiting for one
	freed   chan struct{} // a token when a slot was freed while requests waited
}

// Overflow kinds, the "breaker" label of edgeplane_agent_upstream_overflow_total.
const (
	overMaxRequests    = metrics.OverflowMaxRequests
	overMaxPending     = metrics.OverflowMaxPending
	overMaxConnections = metrics.OverflowMaxConnections
)

// acquire takes a slot at t for one request, or returns which limit refused it (-1: none).
// Hot path: two loads and an add while the target is under its limits.
func (b *breaker) acquire(l *breakerLimits) int {
	if b.active.Load()+b.waiting.Load() >= l.reqs {
		return overMaxRequests
	}
	if b.active.Add(1) <= l.conns {
		return -1
	}
	b.active.Add(-1)
	if b.waiting.Add(1) > l.pending {
		b.waiting.Add(-1)
		return overMaxPending
	}
	defer b.waiting.Add(-1)
	timer := time.NewTimer(l.wait)
	defer timer.Stop()
	for {
		if b.active.Add(1) <= l.conns {
			b.wakeNext(l)
			return -1
		}
		b.active.Add(-1)
		select {
		case <-b.freed:
		case <-timer.C:
			return overMaxConnections
		}
	}
}

// release gives back a slot taken by acquire. Hot path: an add and a load.
func (b *breaker) release(l *breakerLimits) {
	b.active.Add(-1)
	if b.waiting.Load() > 0 {
		b.wakeNext(l)
	}
}

// wakeNext hands a token to one waiting request if a slot is free (each woken waiter
// passes it on, so two slots freed at once wake two waiters).
func (b *breaker) wakeNext(l *breakerLimits) {
	if b.waiting.Load() > 0 && b.active.Load() < l.conns {
		select {
		case b.freed <- struct{}{}:
		default:
		}
	}
}

// admit takes a breaker slot at t for a request; false means it was refused, counted, and
// the caller answers 503 (overflow).
func (u *upstream) admit(t *target) bool {
	kind := t.breaker.acquire(&u.limits)
	if kind < 0 {
		return true
	}
	u.metrics.Overflow(kind)
	return false
}

// done gives back the slot admit took.
func (u *upstream) done(t *target) { t.breaker.release(&u.limits) }

// overflowBody is the body of a 503 for a request a breaker refused.
func (u *upstream) overflowBody() string { return u.overflowMsg }

func overflowMessage(route string) string {
	return fmt.Sprintf("edgeplane: route %q: upstream is at its circuit breaker limits\n", route)
}

// overflowHTTP answers a request refused by a circuit breaker on the net/http path.
func (u *upstream) overflowHTTP(w http.ResponseWriter) {
	writeError(w, http.StatusServiceUnavailable, u.overflowMsg)
}

// serveHTTP proxies r on the net/http path: it picks r's target, takes a circuit-breaker
// slot there for the whole exchange (a tunnel's whole life after an upgrade) and hands r to
// the ReverseProxy, whose rewrite reads the target from the context. Over a breaker limit
// it answers 503 at once.
func (u *upstream) serveHTTP(w http.ResponseWriter, r *http.Request) {
	t := u.pick(nanotime(), nil, u.hash.keyOfRequest(r))
	if !u.admit(t) {
		u.overflowHTTP(w)
		return
	}
	defer u.done(t)
	u.handler.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, t)))
}
