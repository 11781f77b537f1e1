package proxy

import "strings"

// Match returns the route for a request, or nil. Hosts are compared without port and
// case-insensitively: an exact host first, then wildcards from the longest suffix to the
// shortest ("*.example.com" matches one or more leading labels). Within the first host
// entry that has any match, the route with the highest priority wins among those whose
// path prefix and methods match; ties go to the longer prefix, then to the lower name.
// A prefix matches whole path segments: "/api" matches "/api" and "/api/x", not "/apix".
//
// Hot path: O(labels + path segments) map lookups, no allocation for lower-case hosts.
func (t *Table) Match(host, path, method string) *Route {
	host = strings.ToLower(hostname(host))
	if path == "" {
		path = "/"
	}
	if idx, ok := t.exact.Get(host); ok {
		if rt := idx.match(path, method); rt != nil {
			return rt
		}
	}
	for s := host; ; {
		i := strings.IndexByte(s, '.')
		if i < 0 {
			return nil
		}
		s = s[i+1:]
		if idx, ok := t.wildcard.Get(s); ok {
			if rt := idx.match(path, method); rt != nil {
				return rt
			}
		}
	}
}

// match tries every prefix of path that ends at a segment boundary, longest first.
func (x pathIndex) match(path, method string) *Route {
	best := x.better(nil, path, method)
	for i := len(path) - 1; i >= 0; i-- {
		if path[i] != '/' {
			continue
		}
		if i+1 < len(path) {
			best = x.better(best, path[:i+1], method) // "/api/" for "/api/x"
		}
		if i > 0 {
			best = x.better(best, path[:i], method) // "/api" for "/api/x"
		}
	}
	return best
}

// better returns the first route under prefix that allows method if its priority beats
// best's (prefixes are visited longest first, so best wins ties).
func (x pathIndex) better(best *Route, prefix, method string) *Route {
	for _, rt := range x[prefix] {
		if rt.allows(method) {
			if best == nil || rt.priority > best.priority {
				return rt
			}
			return best
		}
	}
	return best
}

func (r *Route) allows(method string) bool {
	if len(r.methods) == 0 {
		return true
	}
	for _, m := range r.methods {
		if m == method {
			return true
		}
	}
	return false
}

// hostname strips the port, IPv6 brackets and a trailing dot from a Host header.
func hostname(host string) string {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	if len(host) > 1 && host[0] == '[' && host[len(host)-1] == ']' {
		host = host[1 : len(host)-1]
	}
	return strings.TrimSuffix(host, ".")
}
