package proxy

import (
	"net"
	"net/http"
	"slices"
	"strings"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// DefaultStripHeaders are request headers that claim an identity or a client address the
// agent has not verified. Clients may send them; the agent removes them before a request
// reaches a backend, so a backend behind an authenticating proxy or trusting the client IP
// cannot be fooled. X-Forwarded-For, -Host, -Proto, Forwarded and X-Real-IP are always
// replaced by the agent's own and need not be listed.
var DefaultStripHeaders = []string{
	"X-Forwarded-User", "X-Forwarded-Email", "X-Forwarded-Groups", "X-Forwarded-Preferred-Username",
	"X-Forwarded-Access-Token", "X-Auth-Request-User", "X-Auth-Request-Email", "X-Auth-Request-Groups",
	"X-Auth-Request-Preferred-Username", "X-Auth-Request-Access-Token", "X-Remote-User", "X-Remote-Group",
	"Remote-User", "X-Webauth-User", "X-Client-IP", "True-Client-IP", "X-Cluster-Client-IP",
	"X-Original-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Prefix", "X-Forwarded-Server",
	"X-Original-URL", "X-Rewrite-URL",
}

// forwardingHeaders are set by the agent on every proxied request, replacing whatever the
// client sent, unless the route removes or sets them itself.
var forwardingHeaders = [...]string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Forwarded", "X-Real-Ip"}

const (
	fwdFor = 1 << iota
	fwdHost
	fwdProto
	fwdForwarded
	fwdRealIP
	fwdAll = 1<<len(forwardingHeaders) - 1
)

// headerRules are a route's header changes, prepared once when the table is built: in
// canonical form for net/http, and as ready-made lines for the HTTP/1.1 fast path.
type headerRules struct {
	set    []headerValue
	remove []string
	// drop holds the lower-case names the rules remove or set; lines (each "Name: value\r\n")
	// are appended after the kept headers.
	drop  map[string]bool
	lines []byte
}

type headerValue struct {
	key   string
	value []string // shared by every request: len == cap, so an append copies
}

func newHeaderRules(r *edgeplanev1.HeaderRules) headerRules {
	var h headerRules
	keys := make([]string, 0, len(r.GetSet()))
	for k := range r.GetSet() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		ck := http.CanonicalHeaderKey(k)
		v := r.GetSet()[k]
		h.set = append(h.set, headerValue{ck, []string{v}[:1:1]})
		h.lines = append(h.lines, ck+": "+v+"\r\n"...)
		h.addDrop(k)
	}
	for _, k := range r.GetRemove() {
		h.remove = append(h.remove, http.CanonicalHeaderKey(k))
		h.addDrop(k)
	}
	return h
}

func (h *headerRules) addDrop(k string) {
	if h.drop == nil {
		h.drop = make(map[string]bool)
	}
	h.drop[strings.ToLower(k)] = true
}

// apply removes, then sets, so a header both removed and set ends up set.
func (h headerRules) apply(hdr http.Header) {
	for _, k := range h.remove {
		delete(hdr, k)
	}
	for _, s := range h.set {
		hdr[s.key] = s.value
	}
}

// forwarding returns the forwarding headers the agent adds for a route with request rules
// h: all of them except those the route removes or sets itself.
func (h headerRules) forwarding() uint8 {
	var mask uint8
	for i, name := range forwardingHeaders {
		if !h.drop[strings.ToLower(name)] {
			mask |= 1 << i
		}
	}
	return mask
}

// clientIP returns the IP of a "host:port" remote address ("" if it has none).
func clientIP(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		return ""
	}
	return host
}

// forwardedFor returns the RFC 7239 for= value of ip: quoted and bracketed for IPv6.
func forwardedFor(ip string) string {
	if strings.Contains(ip, ":") {
		return `"[` + ip + `]"`
	}
	if ip == "" {
		return "unknown"
	}
	return ip
}

// appendForwarded appends an RFC 7239 Forwarded value: for=...;host="...";proto=...
func appendForwarded(b []byte, forIP, host string, secure bool) []byte {
	b = append(b, "for="...)
	b = append(b, forIP...)
	b = append(b, `;host="`...)
	for i := 0; i < len(host); i++ {
		if host[i] == '"' || host[i] == '\\' {
			b = append(b, '\\')
		}
		b = append(b, host[i])
	}
	b = append(b, `";proto=`...)
	if secure {
		return append(b, "https"...)
	}
	return append(b, "http"...)
}

// stripSet is the lower-case set of request headers never forwarded from clients: the
// configured identity headers and the forwarding headers the agent replaces.
func stripSet(strip []string) map[string]bool {
	m := make(map[string]bool, len(strip)+len(forwardingHeaders))
	for _, h := range strip {
		m[strings.ToLower(strings.TrimSpace(h))] = true
	}
	for _, h := range forwardingHeaders {
		m[strings.ToLower(h)] = true
	}
	delete(m, "")
	return m
}
