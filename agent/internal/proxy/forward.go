package proxy

import (
	"bytes"
	"cmp"
	"errors"
	"net/http"
	"runtime"
	"time"
)

var errBadResponse = errors.New("malformed response from upstream")

// forward proxies c.req to one of up's targets and relays the response, trying again
// where the route's retry policy allows (see retryPolicy; each retry goes to another target
// when there is one, within the route's retry budget). The request holds a circuit-breaker
// slot at the target of its current try (503 at once when the first gets none; a retry
// whose target has none is not made). Every failed try counts against its target's
// health. A kept connection the backend had closed in the meantime is replaced by a fresh
// one when the request may be sent again (Go's Transport rules): it is idempotent and its
// body is still at hand, or nothing of it was written; that is not a retry. After any error
// while the request body was only partly read, the client connection closes: what follows
// on it is the rest of that body, not a request.
//
// Hot path: no allocation and no shared lock when the client connection already holds a
// connection to the target.
func (c *Conn) forward(up *upstream, start time.Time) (status int, keep bool) {
	req := &c.req
	now := start.UnixNano()
	inBuf := min(req.length, int64(len(c.rb.buffered())))
	replayable := inBuf == req.length
	idempotent := c.idempotent()
	retryIdempotent := idempotent || req.method == http.MethodPut || req.method == http.MethodDelete
	up.budget.deposit(now)
	key := up.hash.keyOfConn(c)
	t := up.pick(now, nil, key)
	if !up.admit(t) {
		return c.replyLocal(http.StatusServiceUnavailable, up.overflowBody(), nil)
	}
	held := t // the target whose circuit-breaker slot this request holds
	defer func() { up.done(held) }()
	tryStart, fresh, stale := start, false, 0
	next := func(n *target) { // move to the retry's target n (admitted by up.retry)
		if n != held {
			up.done(held)
			held = n
		}
		t, tryStart, now = n, time.Now(), nanotime()
		c.x.tries++
	}
	for c.x.tries = 1; ; {
		c.x.target = t
		bc, reused, err := c.backend(t, start, fresh, !idempotent)
		fresh = false
		if err != nil {
			up.failed(t, err, now)
			if n := up.retry(t, key, retryConnect, c.x.tries, retryIdempotent, replayable, now); n != nil {
				next(n)
				continue
			}
			return c.upstreamError(up, err, c.consumeBody(inBuf, replayable))
		}
		deadline, perTry := up.tryDeadline(start, tryStart)
		var headLen int
		written, raw, sendErr := c.send(up, t, bc, inBuf)
		if err = sendErr; err == nil {
			if raw == nil {
				runtime.Gosched()
			}
			headLen, err = c.awaitHead(bc, deadline)
			if raw != nil {
				// The request was written by the first read (see send): what it wrote,
				// and the error that stopped it, are the send's.
				n, done, werr := raw.sent()
				if written = n; werr != nil || !done {
					sendErr = cmp.Or(werr, err)
					err = sendErr
				}
			}
		}
		if err != nil {
			bc.conn.Close()
			if errors.Is(err, errClientGone) || errors.Is(err, errClientBody) {
				c.stopWatch()
				return statusClientGone, false
			}
			if reused && stale < 2 && bc.rb.w == 0 && !isTimeout(err) &&
				(written == 0 || replayable && idempotent) {
				stale++
				fresh = true // the backend closed the kept connection: send again on a new one
				continue
			}
			up.failed(t, err, now)
			c.stopWatch()
			if n := c.retryBroken(up, t, key, err, sendErr != nil && written == 0, perTry, retryIdempotent, replayable); n != nil {
				next(n)
				continue
			}
			// A body not whole in the buffer was read whole only if send finished.
			return c.upstreamError(up, err, c.consumeBody(inBuf, replayable) || sendErr == nil)
		}
		up.answered(t, c.resp.status, now)
		if c.resp.status >= 500 {
			if n := c.retry5xx(up, t, key, bc, retryIdempotent, replayable, now); n != nil {
				next(n)
				continue
			}
		}
		c.consumeBody(inBuf, replayable)
		status, keep = c.relay(up, bc, headLen)
		c.stopWatch()
		return status, keep
	}
}

// retryBroken returns the target to retry a try whose exchange broke with err, or nil.
// unsent: nothing of the request was written (retried as a connect failure). A timeout is
// retried only when it was the per-try timeout: the route's response timeout is final.
func (c *Conn) retryBroken(up *upstream, t *target, key hashKey, err error, unsent, perTry, idempotent, replayable bool) *target {
	reason := retryReset
	switch {
	case unsent:
		reason = retryConnect
	case isTimeout(err) && !perTry:
		return nil
	}
	return up.retry(t, key, reason, c.x.tries, idempotent, replayable, nanotime())
}

// retry5xx returns the target to retry a 5xx answer on, or nil to relay it. The answer
// retried is dropped with its connection.
func (c *Conn) retry5xx(up *upstream, t *target, key hashKey, bc *bconn, idempotent, replayable bool, now int64) *target {
	next := up.retry(t, key, retry5xx, c.x.tries, idempotent, replayable, now)
	if next != nil {
		bc.conn.Close()
		c.stopWatch()
	}
	return next
}

// idempotent reports whether the request may be sent twice: GET, HEAD, OPTIONS and TRACE,
// or any method with an Idempotency-Key (as Go's Transport decides).
func (c *Conn) idempotent() bool {
	switch c.req.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	for i := range c.req.headers {
		n := c.req.headers[i].name
		if bytes.EqualFold(n, []byte("Idempotency-Key")) || bytes.EqualFold(n, []byte("X-Idempotency-Key")) {
			return true
		}
	}
	return false
}

// consumeBody drops the request body bytes still held in the read buffer (a body that was
// not whole in the buffer was consumed by send) and reports whether the body was read.
func (c *Conn) consumeBody(inBuf int64, replayable bool) bool {
	if replayable {
		c.rb.consume(int(inBuf))
	}
	return replayable
}

var errClientBody = errors.New("reading the request body from the client")

// send writes the request head and body to bc: the body bytes already buffered, then the
// rest streamed from the client as it arrives (never buffered whole), each read within the
// body timeout. written is how much the backend accepted. When the whole request is
// buffered and bc is raw TCP, nothing is written here: onRead is returned, whose first read
// (awaitHead's) writes the request and then waits for the answer (see writeOnRead).
func (c *Conn) send(up *upstream, t *target, bc *bconn, inBuf int64) (written int, onRead *rawTCP, err error) {
	b := c.composeRequest(up, t)
	b = append(b, c.rb.buffered()[:inBuf]...)
	c.reqOut = b
	if raw, ok := bc.io.(*rawTCP); ok && inBuf == c.req.length {
		raw.writeOnRead(b)
		return 0, raw, nil
	}
	written, err = c.sendRest(bc, b, inBuf)
	return written, nil, err
}

// sendRest writes b (the head and the buffered body) and streams the rest of the body.
func (c *Conn) sendRest(bc *bconn, b []byte, inBuf int64) (written int, err error) {
	if written, err = bc.io.Write(b); err != nil {
		return written, err
	}
	rest := c.req.length - inBuf
	if rest == 0 {
		return written, nil
	}
	c.rb.consume(int(inBuf))
	buf := buffers.Get()
	defer buffers.Put(buf)
	for rest > 0 {
		c.readWithin(c.p.limits.BodyTimeout)
		n, err := c.c.Read(buf[:min(int64(len(buf)), rest)])
		if n > 0 {
			if _, werr := bc.io.Write(buf[:n]); werr != nil {
				return written, werr
			}
			rest -= int64(n)
		}
		if err != nil && rest > 0 {
			return written, errClientBody
		}
	}
	return written, nil
}

// composeRequest builds the outgoing request head for target t in c.reqOut: the route's
// path and query joined to the target's, Host, the client's headers minus hop-by-hop,
// stripped and route-removed ones, the agent's forwarding headers, the route's headers.
func (c *Conn) composeRequest(up *upstream, t *target) []byte {
	req := &c.req
	b := append(c.reqOut[:0], req.method...)
	b = append(b, ' ')
	b = append(b, t.base...)
	b = append(b, c.fwdPath...)
	b = appendJoinedQuery(b, req.query, t.query)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if up.preserveHost {
		b = append(b, req.host...)
	} else {
		b = append(b, t.host...)
	}
	b = append(b, "\r\n"...)
	drop := up.request.drop
	for i := range req.headers {
		f := &req.headers[i]
		if (f.act == actKeep || f.act == actLength) && (!f.underscore || up.underscores) &&
			(drop == nil || !dropped(drop, f.name)) {
			b = append(b, f.line...)
			b = append(b, "\r\n"...)
		}
	}
	b = c.appendForwarding(b, up.forwarding)
	if drop == nil || !drop["traceparent"] {
		b = append(b, "Traceparent: "...)
		b = append(appendTraceparent(b, &c.sc), "\r\n"...)
	}
	b = append(b, up.request.lines...)
	return append(b, "\r\n"...)
}

func (c *Conn) appendForwarding(b []byte, fwd uint8) []byte {
	host := c.req.host
	if fwd&fwdFor != 0 && c.ip != "" {
		b = append(b, "X-Forwarded-For: "...)
		b = append(b, c.ip...)
		b = append(b, "\r\n"...)
	}
	if fwd&fwdHost != 0 {
		b = append(b, "X-Forwarded-Host: "...)
		b = append(b, host...)
		b = append(b, "\r\n"...)
	}
	if fwd&fwdProto != 0 {
		b = append(b, "X-Forwarded-Proto: "...)
		b = append(b, scheme(c.secure)...)
		b = append(b, "\r\n"...)
	}
	if fwd&fwdForwarded != 0 {
		b = append(b, "Forwarded: "...)
		b = appendForwarded(b, c.fwdFor, unsafeString(host), c.secure)
		b = append(b, "\r\n"...)
	}
	if fwd&fwdRealIP != 0 && c.ip != "" {
		b = append(b, "X-Real-IP: "...)
		b = append(b, c.ip...)
		b = append(b, "\r\n"...)
	}
	return b
}

// appendJoinedQuery appends the query: the request's own (rq, "?..." or empty), with the
// target URL's (tq) placed before it: ?tq&rq.
func appendJoinedQuery(b, rq []byte, tq string) []byte {
	if tq == "" {
		return append(b, rq...)
	}
	b = append(b, '?')
	b = append(b, tq...)
	if len(rq) > 1 {
		b = append(b, '&')
		b = append(b, rq[1:]...)
	}
	return b
}

// awaitHead reads until bc holds a complete final (non-1xx) response head, parses it into
// c.resp and returns its length. The head must arrive before deadline.
func (c *Conn) awaitHead(bc *bconn, deadline time.Time) (int, error) {
	for {
		if end := bc.rb.headEnd(); end > 0 {
			if !parseResponse(bc.rb.buffered()[:end], &c.resp) {
				return 0, errBadResponse
			}
			if c.resp.status >= 200 {
				return end, nil
			}
			if c.resp.status == http.StatusSwitchingProtocols {
				return 0, errBadResponse // never asked for
			}
			bc.rb.consume(end) // 100 Continue, 103 Early Hints: not relayed
			continue
		}
		if err := c.fillBackend(bc, deadline); err != nil {
			if errors.Is(err, errHeadTooLarge) {
				return 0, errBadResponse
			}
			return 0, err
		}
	}
}

// timeoutError is the response timeout; as a net.Error timeout it is answered with 504.
type timeoutError struct{}

func (timeoutError) Error() string   { return "upstream response timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// fillBackend reads more from bc. While a backend answers within watchDelay nothing else
// happens; past that, a watcher starts reading the client connection so a client that
// goes away cancels the upstream request (errClientGone). deadline, if not zero, bounds the
// wait (a timeoutError).
func (c *Conn) fillBackend(bc *bconn, deadline time.Time) error {
	for {
		d := deadline
		if c.watch == nil {
			now := time.Now()
			c.readAt = now
			if soon := now.Add(watchDelay); d.IsZero() || soon.Before(d) {
				d = soon
				// A deadline set earlier that is still at least half the delay away
				// stays: the watch then starts after watchDelay/2 to watchDelay, and
				// keep-alive traffic does not re-arm the runtime timer on every request.
				if bd := bc.deadline; bd.Before(soon) && !bd.Before(now.Add(watchDelay/2)) {
					d = bd
				}
			}
		}
		bc.setReadDeadline(d)
		// The watcher marks the client gone, then moves the deadline to the past; a
		// deadline set above after that move would hide it, so look before reading.
		if c.watch != nil && c.watch.gone.Load() {
			return errClientGone
		}
		n, err := bc.rb.fill(bc.io)
		if n > 0 {
			return nil
		}
		if c.watch != nil && c.watch.gone.Load() {
			return errClientGone
		}
		if err == nil {
			continue
		}
		if !isTimeout(err) {
			return err
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return timeoutError{}
		}
		if c.watch == nil {
			c.startWatch(bc)
		}
		bc.deadline = time.Time{}.Add(1) // the watcher may have moved it: set it again
	}
}
