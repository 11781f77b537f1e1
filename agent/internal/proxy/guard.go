package proxy

import (
	"io"
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
}

func (b *guardBody) Read(p []byte) (int, error) {
	if b.n > b.limit {
		return 0, &http.MaxBytesError{Limit: b.limit}
	}
	if int64(len(p)) > b.limit-b.n+1 {
		p = p[:b.limit-b.n+1]
	}
	b.rc.SetReadDeadline(time.Now().Add(b.timeout))
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if b.n > b.limit {
		return n, &http.MaxBytesError{Limit: b.limit}
	}
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// bodyUnread reports whether r's body was not read to its end.
func bodyUnread(r *http.Request) bool {
	g, ok := r.Body.(*guardBody)
	return ok && !g.eof
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
