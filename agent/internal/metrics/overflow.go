package metrics

import "github.com/prometheus/client_golang/prometheus"

// Circuit breakers, the "breaker" label of edgeplane_agent_upstream_overflow_total.
const (
	OverflowMaxRequests    = iota // the target had max_requests in flight or waiting
	OverflowMaxPending            // max_pending_requests were already waiting for a connection
	OverflowMaxConnections        // waited the connect timeout for a connection and got none
	numOverflowKinds
)

var overflowNames = [numOverflowKinds]string{"max_requests", "max_pending_requests", "max_connections"}

func newOverflow() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "edgeplane_agent_upstream_overflow_total",
		Help: "Requests answered 503 at once by a target's circuit breaker, by route and breaker.",
	}, []string{"route", "breaker"})
}

// Overflow counts a request a circuit breaker refused; kind is one of the Overflow*
// constants. Hot path for an overloaded route: one atomic add.
func (r *Route) Overflow(kind int) {
	series(&r.overflow[kind], func() prometheus.Counter {
		return r.m.overflow.WithLabelValues(r.name, overflowNames[kind])
	}).Inc()
}
