package proxy

import (
	"cmp"
	"slices"
	"strings"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Table is an immutable routing table with the certificates and ACME challenges of one
// config revision. Match is safe for concurrent use.
type Table struct {
	revision   int64
	exact      map[string]pathIndex // host -> routes
	wildcard   map[string]pathIndex // "example.com" for "*.example.com" -> routes
	byName     map[string]*Route
	challenges map[string]string // ACME HTTP-01 token -> key authorization
	certs      *certIndex
}

// pathIndex maps a path prefix to its routes, ordered by priority (highest first), then name.
type pathIndex map[string][]*Route

// Route is the serving state of one route, built once per config change.
type Route struct {
	src      *edgeplanev1.Route
	name     string
	prefix   string
	priority int32
	methods  []string                      // empty: all
	svc      *edgeplanev1.ServiceEndpoints // where a route naming a service sends traffic
	redirect bool                          // answer plain-HTTP requests with a redirect to HTTPS
	up       *upstream                     // nil when the route has no targets (503)
	metrics  *metrics.Route
	tkey     transportKey

	maxBody     int64                      // request body bound (413 beyond it)
	upgrades    []string                   // lower-case Upgrade tokens allowed
	underscores bool                       // forward header names holding '_'
	slashes     edgeplanev1.EncodedSlashes // %2F and %5C policy
	keepEmpty   bool                       // forward "//" unmerged
}

// Name returns the route's name.
func (r *Route) Name() string { return r.name }

// Len returns the number of routes in t.
func (t *Table) Len() int { return len(t.byName) }

// Revision returns the config revision t was built from.
func (t *Table) Revision() int64 { return t.revision }

func (p *Proxy) build(s *routeset.Set) (*Table, error) {
	prev := p.table.Load()
	t := &Table{
		revision:   s.Revision(),
		exact:      make(map[string]pathIndex),
		wildcard:   make(map[string]pathIndex),
		byName:     make(map[string]*Route, s.Len()),
		challenges: make(map[string]string, len(s.Challenges())),
	}
	var prevCerts *certIndex
	if prev != nil {
		prevCerts = prev.certs
	}
	var err error
	if t.certs, err = buildCerts(s.Certificates(), s.Routes(), prevCerts); err != nil {
		return nil, err
	}
	for _, c := range s.Challenges() {
		t.challenges[c.GetToken()] = c.GetKeyAuthorization()
	}
	used := make(map[transportKey]bool)
	usedPools := make(map[poolKey]bool)
	for _, src := range s.Routes() {
		rt, err := p.routeFor(src, s.Service(src.GetService()), prev)
		if err != nil {
			return nil, err
		}
		if redirect := t.redirects(src); redirect != rt.redirect {
			cp := *rt
			cp.redirect = redirect
			rt = &cp
		}
		t.byName[rt.name] = rt
		used[rt.tkey] = true
		if rt.up != nil {
			for _, tg := range rt.up.targets {
				usedPools[tg.pool.key] = true
			}
		}
		for _, h := range src.GetHosts() {
			t.add(strings.ToLower(h), rt)
		}
	}
	t.sort()
	p.transports.retain(used)
	p.pools.retain(usedPools)
	return t, nil
}

// redirects reports whether plain-HTTP requests for src go to HTTPS: the route asks for
// it, has a TLS mode, and every host has a certificate of its own (a route in
// TLS_MODE_ACME or TLS_MODE_SELF_SIGNED whose certificate has not arrived keeps serving
// plain HTTP rather than sending clients to the default certificate).
func (t *Table) redirects(src *edgeplanev1.Route) bool {
	tls := src.GetTls()
	if !tls.GetRedirectHttp() || tls.GetMode() == edgeplanev1.TlsMode_TLS_MODE_NONE ||
		tls.GetMode() == edgeplanev1.TlsMode_TLS_MODE_UNSPECIFIED {
		return false
	}
	for _, h := range src.GetHosts() {
		if !t.certs.covers(strings.ToLower(h)) {
			return false
		}
	}
	return true
}

// routeFor returns prev's state for src if src (and the endpoints of the service it names)
// are unchanged, else builds it.
func (p *Proxy) routeFor(src *edgeplanev1.Route, svc *edgeplanev1.ServiceEndpoints, prev *Table) (*Route, error) {
	if src.GetService() == "" {
		svc = nil
	}
	if prev != nil {
		if old := prev.byName[src.GetName()]; old != nil && old.src == src && old.svc == svc &&
			p.transports.current(old.tkey) && p.pools.current(old.up) {
			return old, nil
		}
	}
	return p.newRoute(src, svc)
}

func (t *Table) add(host string, rt *Route) {
	m := t.exact
	if suffix, ok := strings.CutPrefix(host, "*."); ok {
		m, host = t.wildcard, suffix
	}
	idx := m[host]
	if idx == nil {
		idx = make(pathIndex)
		m[host] = idx
	}
	idx[rt.prefix] = append(idx[rt.prefix], rt)
}

func (t *Table) sort() {
	for _, m := range []map[string]pathIndex{t.exact, t.wildcard} {
		for _, idx := range m {
			for _, rs := range idx {
				slices.SortFunc(rs, func(a, b *Route) int {
					return cmp.Or(cmp.Compare(b.priority, a.priority), strings.Compare(a.name, b.name))
				})
			}
		}
	}
}
