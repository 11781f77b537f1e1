package proxy

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
)

// statusClientGone is recorded (as nginx does) for requests whose client went away before
// the response was written.
const statusClientGone = 499

// maxDiscard is the largest request body the fast path reads and drops to keep a
// connection open after answering without a backend; larger ones close it.
const maxDiscard = 256 << 10

// serveRequest serves the parsed c.req, whose head was headLen bytes, and reports whether
// the connection stays open. This is where every fast-path request ends: metrics and the
// request record.
func (c *Conn) serveRequest(headLen int) (keep bool) {
	start := time.Now()
	c.sc = span(c.req.trace, c.rng)
	c.x = exchange{bytesIn: int64(headLen) + c.req.length}
	c.written = 0
	m := c.p.noRoute
	c.readAt = time.Time{}
	status, keep := c.route(start, &m)
	c.ended = time.Now()
	d := c.ended.Sub(start)
	m.Observe(status, d)
	if tr := c.p.tracing.Load(); tr != nil {
		c.x.status, c.x.duration, c.x.bytesOut = status, d, c.written
		c.recBuf = tr.record(c.p, &c.sc, unsafeString(c.req.host), c.req.method, c.req.path, c.ip, &c.x, c.recBuf)
	}
	return keep && !c.req.close && !c.draining.Load()
}

// route answers ACME challenges, routes the request on its normalized path and proxies
// it. m is set to the route's metrics once one matches.
func (c *Conn) route(start time.Time, m **metrics.Route) (status int, keep bool) {
	req := &c.req
	req.path = unsafeString(req.rawPath)
	t := c.p.table.Load()
	if t == nil {
		return c.replyLocal(http.StatusServiceUnavailable, noConfigBody, nil)
	}
	c.x.revision = t.revision
	res := t.resolve(unsafeString(req.host), req.rawPath, req.method, &c.paths)
	if res.status != 0 {
		return c.refuseRequest(res.status)
	}
	req.path = res.route
	if key, ok := t.challenge(req.path); ok {
		return c.replyLocal(http.StatusOK, key, plainText)
	}
	rt := res.rt
	if rt == nil {
		return c.replyLocal(http.StatusNotFound, notFoundBody(hostname(string(req.host)), req.path), nil)
	}
	*m = rt.metrics
	c.x.route, c.x.revision = rt, t.revision
	switch {
	case req.length > rt.maxBody:
		return c.refuseRequest(http.StatusRequestEntityTooLarge)
	case rt.redirect && !c.secure && !isChallenge(req.path):
		code := redirectStatus(req.method)
		loc := "Location: " + c.p.httpsURL(string(req.host), string(res.path)+string(req.query)) + "\r\n"
		return c.replyLocal(code, "", []byte(loc))
	case rt.up == nil:
		return c.replyLocal(http.StatusServiceUnavailable, noTargetsBody(rt.name), nil)
	}
	c.fwdPath = res.path
	return c.forward(rt.up, start)
}

// refuseRequest answers status without reading the request body and closes the
// connection.
func (c *Conn) refuseRequest(status int) (int, bool) {
	c.reply(status, refusalBody(status), nil, true)
	return status, false
}

var plainText = []byte("Content-Type: text/plain\r\n")

// replyLocal answers without a backend, first reading and dropping a small request body so
// the connection stays usable.
func (c *Conn) replyLocal(status int, body string, headers []byte) (int, bool) {
	keep := c.discardBody()
	if !c.reply(status, body, headers, !keep) {
		return status, false
	}
	return status, keep
}

func (c *Conn) discardBody() bool {
	n := c.req.length
	if n == 0 {
		return true
	}
	if n > maxDiscard {
		return false
	}
	if b := int64(len(c.rb.buffered())); b >= n {
		c.rb.consume(int(n))
		return true
	} else {
		n -= b
		c.rb.consume(int(b))
	}
	_, err := io.CopyN(io.Discard, c.c, n)
	return err == nil
}

// reply writes a complete response with a plain-text body (or headers, which must include
// their own Content-Type), and reports whether it was written.
func (c *Conn) reply(status int, body string, headers []byte, close bool) bool {
	b := c.out[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(status)...)
	b = append(b, "\r\n"...)
	if headers != nil {
		b = append(b, headers...)
	} else if body != "" {
		b = append(b, "Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"...)
	}
	b = appendDate(b)
	b = appendTraceHeaders(b, &c.sc)
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n"...)
	if close || c.draining.Load() {
		b = append(b, "Connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	if c.req.method != http.MethodHead {
		b = append(b, body...)
	}
	c.out = b
	_, err := c.write(b)
	return err == nil
}

// upstreamError answers a failed exchange: 504 on a timeout, else 502. The connection stays
// open if the request body was read whole.
func (c *Conn) upstreamError(up *upstream, err error, bodyRead bool) (int, bool) {
	status := http.StatusBadGateway
	if isTimeout(err) {
		status = http.StatusGatewayTimeout
	}
	up.log.Warn("upstream request failed", "host", string(c.req.host), "path", c.req.path, "error", err, "tries", c.x.tries)
	var headers []byte // nil: the default plain-text ones
	if up.retries.expose {
		headers = up.appendAttempts([]byte("Content-Type: text/plain; charset=utf-8\r\nX-Content-Type-Options: nosniff\r\n"), c.x.tries)
	}
	if !c.reply(status, up.failBody(status), headers, !bodyRead) {
		return status, false
	}
	return status, bodyRead
}

var errClientGone = errors.New("client closed the connection")

// date is the cached Date header line, refreshed once a second.
type date struct {
	sec  int64
	line []byte
}

var dateCache atomic.Pointer[date]

func appendDate(b []byte) []byte {
	now := time.Now()
	d := dateCache.Load()
	if d == nil || d.sec != now.Unix() {
		d = &date{sec: now.Unix(), line: now.UTC().AppendFormat([]byte("Date: "), http.TimeFormat)}
		d.line = append(d.line, "\r\n"...)
		dateCache.Store(d)
	}
	return append(b, d.line...)
}
