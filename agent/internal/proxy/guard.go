package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The net/http path's share of the request checks: net/http parses the request, then
// these refuse what the fast path's parser refuses and bound what it bounds, so both paths
// answer a hostile request the same way.

// checkRequest returns the status to refuse r with, or 0: 414 for a request-target over
// MaxTargetBytes, 400 for one holding anything but visible ASCII or for an invalid Host,
// 431 for more than MaxHeaderCount header lines. It lower-cases r.Host.
func (p *Proxy) checkRequest(r *http.Request) int {
	lim := &p.limits
	switch {
	case len(r.RequestURI) > lim.MaxTargetBytes:
		return http.StatusRequestURITooLong
	case !validTarget([]byte(r.RequestURI)):
		return http.StatusBadRequest
	case r.Host == "" && r.ProtoMajor == 1 && r.ProtoMinor == 0:
		// HTTP/1.0 may leave Host out; it then matches no route.
	case !validHost([]byte(r.Host)):
		return http.StatusBadRequest
	}
	n := 1 // Host, which net/http keeps out of r.Header
	for _, vs := range r.Header {
		n += len(vs)
	}
	if n > lim.MaxHeaderCount {
		return http.StatusRequestHeaderFieldsTooLarge
	}
	r.Host = strings.ToLower(r.Host)
	return 0
}

// rawPath is the percent-encoded path of r as the client sent it.
func rawPath(r *http.Request) string {
	if strings.HasPrefix(r.RequestURI, "/") {
		p, _, _ := strings.Cut(r.RequestURI, "?")
		return p
	}
	return r.URL.EscapedPath()
}

// setPath makes the normalized, percent-encoded path p the one r is forwarded with.
func setPath(r *http.Request, p []byte) {
	decoded, err := url.PathUnescape(string(p))
	if err != nil {
		return // normalizePath emits valid escapes only
	}
	r.URL.Path, r.URL.RawPath = decoded, string(p)
}

// guardBody bounds a net/http request body: each read within the body timeout, at most
// limit bytes in all (then *http.MaxBytesError). It records whether the body was read to
// its end, so a failed exchange can close a connection whose body was left half read.
type guardBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	timeout time.Duration
	limit   int64
	n       int64
	eof     bool
	err     error // the first error reading the client's body, but io.EOF
}

func (b *guardBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1]
	}
	b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case b.n > b.limit:
		b.err = &http.MaxBytesError{Limit: b.limit}
		return n, b.err
	case err == io.EOF:
		b.eof = true
	case err != nil:
		b.err = err
	}
	return n, err
}

type guardKey struct{}

// guard wraps r's body, if it has one, in a guardBody that the error handler finds in the
// context (ReverseProxy hands it the outgoing request, whose body is wrapped again).
func guard(r *http.Request, rc *http.ResponseController, timeout time.Duration, limit int64) *http.Request {
	if r.Body == nil || r.Body == http.NoBody {
		return r
	}
	g := &guardBody{ReadCloser: r.Body, rc: rc, timeout: timeout, limit: limit}
	r = r.WithContext(context.WithValue(r.Context(), guardKey{}, g))
	r.Body = g
	return r
}

func guardOf(r *http.Request) (*guardBody, bool) {
	g, ok := r.Context().Value(guardKey{}).(*guardBody)
	return g, ok
}

// bodyUnread reports whether r's body was not read to its end.
func bodyUnread(r *http.Request) bool {
	g, ok := guardOf(r)
	return ok && !g.eof
}

// bodyErrorStatus is the status answering a request whose body could not be read from
// the client, or 0 if it could: 413 over the size limit, 408 past the body timeout, else
// 400 (malformed chunked framing, an oversized chunk extension).
func bodyErrorStatus(r *http.Request) int {
	g, ok := guardOf(r)
	var tooLarge *http.MaxBytesError
	switch {
	case !ok || g.err == nil:
		return 0
	case errors.As(g.err, &tooLarge):
		return http.StatusRequestEntityTooLarge
	case isTimeout(g.err):
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}

// deadlineWriter sets the client write deadline before every write of a response on the
// net/http path.
type deadlineWriter struct {
	rc      *http.ResponseController
	timeout time.Duration
}

func (d deadlineWriter) extend() {
	if d.rc != nil {
		d.rc.SetWriteDeadline(time.Now().Add(d.timeout))
	}
}

// IdleConnState is for an http.Server's ConnState hook: once a connection goes idle
// between requests, it clears the write deadline the last response left, so what net/http
// writes itself for the next request (100 Continue, its own 4xx answers) is not cut short
// by a deadline that expired while the connection waited.
func IdleConnState(c net.Conn, st http.ConnState) {
	if st == http.StateIdle {
		c.SetWriteDeadline(time.Time{})
	}
}
