package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Retry defaults, for a route whose retry_policy leaves a field unset.
const (
	DefaultMaxAttempts         = 2
	DefaultRetryBudgetPercent  = 20
	DefaultMinRetriesPerSecond = 10
	maxAttempts                = 5 // the model's bound; the agent clamps too
)

// attemptsHeader carries the number of tries made when a route sets expose_attempts.
const attemptsHeader = "X-Edgeplane-Attempts"

// Why a try is retried: the "reason" label of edgeplane_agent_retries_total.
const (
	retryConnect = metrics.RetryConnect // no connection: nothing was sent
	retryReset   = metrics.RetryReset   // the exchange broke or a per-try timeout passed after sending
	retry5xx     = metrics.Retry5xx     // the backend answered 5xx
)

// retryPolicy is a route's retry policy, resolved when its table is built.
//
// The rules, in order: a try that could not connect is retried for every method (nothing
// was sent); a broken exchange, a per-try timeout or (with on5xx) a 5xx answer only when
// the request is idempotent or the route allows others (nonIdempotent), and only when its
// body is still at hand: a body streamed to the backend is never sent twice. Every retry
// must fit the route's budget and the tries stay within attempts.
type retryPolicy struct {
	attempts      int
	on5xx         bool
	nonIdempotent bool
	perTry        time.Duration // 0: only the route's response timeout
	expose        bool
}

func newRetryPolicy(p *edgeplanev1.RetryPolicy) retryPolicy {
	r := retryPolicy{attempts: DefaultMaxAttempts, on5xx: p.GetRetry_5Xx(), nonIdempotent: p.GetRetryNonIdempotent(),
		perTry: p.GetPerTryTimeout().AsDuration(), expose: p.GetExposeAttempts()}
	if n := p.GetMaxAttempts(); n > 0 {
		r.attempts = int(min(n, maxAttempts))
	}
	r.perTry = max(r.perTry, 0)
	return r
}

// allows reports whether a try that failed for reason, after tries tries, may be retried:
// reason's rule holds for a request that is idempotent (or not), whose body is (or is not)
// still at hand. The budget is asked separately (retryBudget.withdraw).
func (r retryPolicy) allows(reason, tries int, idempotent, replayable bool) bool {
	if tries >= r.attempts {
		return false
	}
	switch reason {
	case retryConnect:
		return true
	case retry5xx:
		if !r.on5xx {
			return false
		}
	}
	return replayable && (idempotent || r.nonIdempotent)
}

// retry decides whether the try at t that failed for reason is made again, and on which
// target: another one when there is one (picked with key), else t itself, except after a
// connect failure (trying t again would wait out the same connect timeout). Another target
// must admit the retry (its circuit breaker); the caller then releases t's slot. It counts
// the retry, or the refusal of an exhausted budget. nil: answer with this try's outcome.
func (u *upstream) retry(t *target, key hashKey, reason, tries int, idempotent, replayable bool, now int64) *target {
	if !u.retries.allows(reason, tries, idempotent, replayable) {
		return nil
	}
	next := u.pick(now, t, key)
	switch {
	case next == nil && reason == retryConnect:
		return nil
	case next == nil:
		next = t
	case next != t && !u.admit(next):
		return nil
	}
	if !u.budget.withdraw(now) {
		if next != t {
			u.done(next)
		}
		u.metrics.RetryBudgetExhausted()
		return nil
	}
	u.metrics.Retry(reason)
	return next
}

// tryDeadline is when the try starting at now must have its response head: the per-try
// timeout's end, or the route's response deadline if that comes first. perTry says the
// per-try timeout is the one that bounds it (a try that passes it may be retried).
func (u *upstream) tryDeadline(start, now time.Time) (deadline time.Time, perTry bool) {
	deadline = start.Add(u.timeouts.response)
	if u.retries.perTry > 0 {
		if d := now.Add(u.retries.perTry); d.Before(deadline) {
			return d, true
		}
	}
	return deadline, false
}

// idempotentMethod reports whether a request with method (and an Idempotency-Key or not)
// may be sent twice: GET, HEAD, OPTIONS, TRACE, PUT and DELETE (RFC 9110 9.2.2), or any
// method with a key.
func idempotentMethod(method string, keyed bool) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return keyed
}

// appendAttempts appends the attempts header when the route exposes it.
func (u *upstream) appendAttempts(b []byte, tries int) []byte {
	if !u.retries.expose || tries == 0 {
		return b
	}
	b = append(b, attemptsHeader+": "...)
	b = strconv.AppendInt(b, int64(tries), 10)
	return append(b, "\r\n"...)
}
