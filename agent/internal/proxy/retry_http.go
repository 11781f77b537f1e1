package proxy

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// retrier is the net/http path's RoundTripper: it records passive health and retries as
// the route's policy allows (see retryPolicy). The net/http path does not buffer request
// bodies, so a request with a body is retried only when its connection could not be opened
// (the Transport reads no body before it has a connection); one without a body follows
// every rule.
type retrier struct {
	up *upstream
	tr *http.Transport
}

func (rt *retrier) RoundTrip(req *http.Request) (*http.Response, error) {
	t, _ := req.Context().Value(targetKey{}).(*target)
	if t == nil {
		return rt.tr.RoundTrip(req)
	}
	u := rt.up
	rq, _ := req.Context().Value(httpRequestKey{}).(*httpRequest)
	hasBody := req.Body != nil && req.Body != http.NoBody
	if hasBody {
		req.Body = keepOpen{req.Body} // the Transport closes the body on errors; a retry needs it
	}
	idempotent := idempotentMethod(req.Method, req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != "")
	u.budget.deposit(nanotime())
	key := u.hash.keyOfRequest(req)
	out := req
	var slot *target // a retry's circuit-breaker slot, held until its response head (the first's by serveHTTP, to the end)
	for tries := 1; ; tries++ {
		if rq != nil {
			rq.x.target, rq.x.tries = t, tries
		}
		resp, perTry, err := rt.try(out)
		if slot != nil {
			u.done(slot)
			slot = nil
		}
		reason, final := rt.outcome(req, t, resp, err, perTry)
		if final {
			return resp, err
		}
		next := u.retry(t, key, reason, tries, idempotent, !hasBody, nanotime())
		if next == nil {
			return resp, err
		}
		if next != t {
			slot = next // admitted by u.retry
		}
		if resp != nil {
			resp.Body.Close()
		}
		out, t = retarget(req, t, next, u.preserveHost), next
	}
}

// outcome records the try's result in t's health and says why it may be retried, or that
// it is final (a success, a client gone, the route's response timeout).
func (rt *retrier) outcome(req *http.Request, t *target, resp *http.Response, err error, perTry bool) (reason int, final bool) {
	u := rt.up
	switch {
	case err == nil:
		u.answered(t, resp.StatusCode, nanotime())
		return retry5xx, resp.StatusCode < 500
	case req.Context().Err() != nil:
		return 0, true // the client went away; not the target's fault
	}
	u.failed(t, err, nanotime())
	switch {
	case isDialError(err):
		return retryConnect, false
	case perTry:
		return retryReset, false
	}
	return retryReset, isTimeout(err)
}

// try sends req once, within the per-try timeout if the route has one; perTry reports that
// it ran out. The timeout bounds the wait for the response head only.
func (rt *retrier) try(req *http.Request) (resp *http.Response, perTry bool, err error) {
	d := rt.up.retries.perTry
	if d <= 0 {
		resp, err = rt.tr.RoundTrip(req)
		return resp, false, err
	}
	ctx, cancel := context.WithCancel(req.Context())
	timer := time.AfterFunc(d, cancel)
	resp, err = rt.tr.RoundTrip(req.WithContext(ctx))
	if !timer.Stop() && err != nil {
		cancel()
		return nil, true, timeoutError{}
	}
	if err != nil {
		cancel()
		return nil, false, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, false, nil
}

// retarget returns req sent to target to instead of from.
func retarget(req *http.Request, from, to *target, preserveHost bool) *http.Request {
	out := req.Clone(req.Context())
	out.URL.Scheme, out.URL.Host = to.url.Scheme, to.url.Host
	out.URL.Path = to.url.Path + strings.TrimPrefix(req.URL.Path, from.url.Path)
	out.URL.RawPath = to.url.EscapedPath() + strings.TrimPrefix(req.URL.EscapedPath(), from.url.EscapedPath())
	if !preserveHost {
		out.Host = ""
	}
	return out
}

// setAttempts sets the attempts header of the net/http path's response to r, when the
// route exposes it.
func (u *upstream) setAttempts(h http.Header, r *http.Request) {
	if !u.retries.expose || r == nil {
		return
	}
	if rq, _ := r.Context().Value(httpRequestKey{}).(*httpRequest); rq != nil && rq.x.tries > 0 {
		h[attemptsHeader] = []string{strconv.Itoa(rq.x.tries)}
	}
}

// keepOpen is a request body the Transport cannot close: the handler's server does.
type keepOpen struct{ io.ReadCloser }

func (keepOpen) Close() error { return nil }

// cancelOnClose ends a try's context once its response body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
