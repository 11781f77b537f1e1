package proxy

import (
	"bytes"
	"net/http"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// pathBufs are the scratch buffers of path normalization, reused across requests by one
// connection.
type pathBufs struct{ fwd, route, alt, altRoute []byte }

// resolved is where a request goes: its route (nil: 404), the normalized path to forward
// (percent-encoded) and the decoded path it was routed on; status is non-zero when the
// request must be refused (400) instead.
type resolved struct {
	rt     *Route
	path   []byte
	route  string
	status int
}

// resolve normalizes the percent-encoded path raw and routes the request on it. Routing
// always uses the path with empty segments merged and encoded slashes kept as data; the
// route's policy then decides what is forwarded: with keep_empty_segments the unmerged
// path, and with ENCODED_SLASHES_DECODE the decoded one, each only if it selects the same
// route (a decoded path that routes elsewhere is refused).
//
// Hot path: no allocation for a path that needs no normalizing, none once b has grown.
func (t *Table) resolve(host string, raw []byte, method string, b *pathBufs) resolved {
	if !hasEscape(raw) {
		return resolved{rt: t.Match(host, unsafeString(raw), method), path: raw, route: unsafeString(raw)}
	}
	var r resolved
	var encSlash, ok bool
	if b.fwd, encSlash, ok = normalizePath(b.fwd[:0], raw, true, false); !ok {
		r.status = http.StatusBadRequest
		return r
	}
	b.route = routingPath(b.route[:0], b.fwd)
	r.path, r.route = b.fwd, unsafeString(b.route)
	if r.rt = t.Match(host, r.route, method); r.rt == nil {
		return r
	}
	return t.applyPolicy(r, host, raw, method, encSlash, b)
}

// applyPolicy applies the encoded-slash and empty-segment policy of r's route.
func (t *Table) applyPolicy(r resolved, host string, raw []byte, method string, encSlash bool, b *pathBufs) resolved {
	decode := encSlash && r.rt.slashes == edgeplanev1.EncodedSlashes_ENCODED_SLASHES_DECODE
	if encSlash && r.rt.slashes != edgeplanev1.EncodedSlashes_ENCODED_SLASHES_KEEP && !decode {
		r.status = http.StatusBadRequest
		return r
	}
	keep := r.rt.keepEmpty && (bytes.Contains(raw, []byte("//")) || decode)
	if !decode && !keep {
		return r
	}
	var ok bool
	if b.alt, _, ok = normalizePath(b.alt[:0], raw, !r.rt.keepEmpty, decode); !ok {
		r.status = http.StatusBadRequest
		return r
	}
	b.altRoute = routingPath(b.altRoute[:0], b.alt)
	if t.Match(host, unsafeString(b.altRoute), method) == r.rt {
		r.path, r.route = b.alt, unsafeString(b.altRoute)
	} else if decode {
		r.status = http.StatusBadRequest
	}
	return r
}

// challengeToken returns the token of an ACME HTTP-01 validation path: exactly
// acmePrefix followed by one base64url token, nothing else.
func challengeToken(path string) (string, bool) {
	if len(path) <= len(acmePrefix) || path[:len(acmePrefix)] != acmePrefix {
		return "", false
	}
	token := path[len(acmePrefix):]
	for i := 0; i < len(token); i++ {
		c := token[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", false
		}
	}
	return token, true
}
