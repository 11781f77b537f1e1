package proxy

import (
	"sync/atomic"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// budgetWindow is how far back a retry budget counts requests and retries, in one-second
// buckets (Linkerd's retry budget uses a 10 s TTL too).
const budgetWindow = 10

// retryBudget caps a route's retries at percent of its requests over the last budgetWindow
// seconds plus minPerSec per second of the window, so that retries cannot multiply an
// outage (Linkerd's retry budget: 20% plus 10 retries a second). Requests are counted as
// they arrive, retries as they are made; retries do not count as requests.
//
// Hot path: deposit is one atomic load and one atomic add (plus a reset once a second).
// The check of withdraw and its add are not one atomic step: concurrent retries can pass
// the cap by at most their number.
type retryBudget struct {
	percent   int64
	minPerSec int64
	buckets   [budgetWindow]budgetBucket
}

type budgetBucket struct {
	sec      atomic.Int64 // unix second the counts belong to
	requests atomic.Int64
	retries  atomic.Int64
}

func newRetryBudget(p *edgeplanev1.RetryPolicy) *retryBudget {
	b := &retryBudget{percent: DefaultRetryBudgetPercent, minPerSec: DefaultMinRetriesPerSecond}
	if p != nil && p.BudgetPercent != nil {
		b.percent = int64(min(p.GetBudgetPercent(), 100))
	}
	if p != nil && p.MinRetriesPerSecond != nil {
		b.minPerSec = int64(p.GetMinRetriesPerSecond())
	}
	return b
}

// bucket returns the bucket of the second of now (unix nanoseconds), emptied if it last
// held an older second.
func (b *retryBudget) bucket(now int64) *budgetBucket {
	sec := now / int64(time.Second)
	k := &b.buckets[sec%budgetWindow]
	if old := k.sec.Load(); old != sec && k.sec.CompareAndSwap(old, sec) {
		k.requests.Store(0)
		k.retries.Store(0)
	}
	return k
}

// deposit counts a request. Hot path.
func (b *retryBudget) deposit(now int64) { b.bucket(now).requests.Add(1) }

// withdraw counts a retry and reports true if the budget allows one more now.
func (b *retryBudget) withdraw(now int64) bool {
	cur := b.bucket(now)
	sec := now / int64(time.Second)
	var requests, retries int64
	for i := range b.buckets {
		k := &b.buckets[i]
		if s := k.sec.Load(); s > sec-budgetWindow && s <= sec {
			requests += k.requests.Load()
			retries += k.retries.Load()
		}
	}
	if retries*100 >= requests*b.percent+b.minPerSec*budgetWindow*100 {
		return false
	}
	cur.retries.Add(1)
	return true
}
