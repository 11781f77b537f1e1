package metrics

import "github.com/prometheus/client_golang/prometheus"

// Retry reasons, the "reason" label of edgeplane_agent_retries_total.
const (
	RetryConnect = iota // the connection could not be opened: nothing was sent
	RetryReset          // the exchange broke, or a per-try timeout passed, after sending
	Retry5xx            // the backend answered 5xx
	numRetryReasons
)

var retryReasonNames = [numRetryReasons]string{"connect", "reset", "5xx"}

// retryVecs are the retry counters of every route.
type retryVecs struct {
	retries   *prometheus.CounterVec
	exhausted *prometheus.CounterVec
}

func newRetryVecs() retryVecs {
	return retryVecs{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeplane_agent_retries_total",
			Help: "Requests tried again, by route and reason (connect, reset, 5xx).",
		}, []string{"route", "reason"}),
		exhausted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeplane_agent_retry_budget_exhausted_total",
			Help: "Retries not made because the route's retry budget was spent, by route.",
		}, []string{"route"}),
	}
}

func (v retryVecs) forget(name string) {
	v.retries.DeletePartialMatch(prometheus.Labels{"route": name})
	v.exhausted.DeleteLabelValues(name)
}

// Retry counts a retry for reason (RetryConnect, RetryReset or Retry5xx).
func (r *Route) Retry(reason int) {
	series(&r.retries[reason], func() prometheus.Counter {
		return r.m.retry.retries.WithLabelValues(r.name, retryReasonNames[reason])
	}).Inc()
}

// RetryBudgetExhausted counts a retry refused by the route's retry budget.
func (r *Route) RetryBudgetExhausted() {
	series(&r.budget, func() prometheus.Counter { return r.m.retry.exhausted.WithLabelValues(r.name) }).Inc()
}
