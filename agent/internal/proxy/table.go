package proxy

import (
	"cmp"
	"slices"
	"strings"

	"github.com/edgeplane/edgeplane/agent/internal/cowmap"
	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Table is an immutable routing table with the certificates and ACME challenges of one
// config revision. Match is safe for concurrent use.
//
// Its maps are copy-on-write (cowmap): a Table built for a delta shares everything the delta
// does not touch with the Table before it, so building it costs O(changed routes).
type Table struct {
	revision   int64
	exact      cowmap.Map[pathIndex] // host -> routes
	wildcard   cowmap.Map[pathIndex] // "example.com" for "*.example.com" -> routes
	byName     cowmap.Map[*Route]
	challenges map[string]string // ACME HTTP-01 token -> key authorization
	certs      *certIndex
	checked    int // routes with active health checks

	// Set when the Table was built from the one at revision from by a delta: the routes of
	// that Table it no longer has (so Swap forgets their metrics without a full scan).
	delta   bool
	from    int64
	removed []string
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
func (t *Table) Len() int { return t.byName.Len() }

// route returns the route called name, or nil.
func (t *Table) route(name string) *Route {
	rt, _ := t.byName.Get(name)
	return rt
}

// ActiveChecks reports whether any route of t has targets under active health checks.
func (t *Table) ActiveChecks() bool { return t.checked > 0 }

// Revision returns the config revision t was built from.
func (t *Table) Revision() int64 { return t.revision }

// build returns the Table for s: by applying s's changes to the served Table when s is a
// delta on it that changes only routes (none of them in TLS_MODE_CERTIFICATE) and
// challenges, else by a full build.
func (p *Proxy) build(s *routeset.Set) (*Table, error) {
	prev := p.table.Load()
	if t, ok, err := p.buildDelta(prev, s); ok || err != nil {
		return t, err
	}
	return p.buildFull(prev, s)
}

// sweepEvery bounds how many routes incremental builds may replace or remove before the
// transports and backend pools only they used are closed (a full scan, so amortised).
const sweepEvery = 1024

func (p *Proxy) buildFull(prev *Table, s *routeset.Set) (*Table, error) {
	t := &Table{revision: s.Revision(), challenges: make(map[string]string, len(s.Challenges()))}
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
	e := t.edit()
	for _, src := range s.Routes() {
		rt, err := p.routeFor(src, s.Service(src.GetService()), prev)
		if err != nil {
			return nil, err
		}
		e.put(t.withRedirect(rt))
	}
	e.done()
	p.sweep(t)
	return t, nil
}

// buildDelta builds the Table for s from prev in O(changes), if it can (ok).
func (p *Proxy) buildDelta(prev *Table, s *routeset.Set) (_ *Table, ok bool, _ error) {
	ch := s.Changes()
	if prev == nil || ch.Snapshot || ch.Base != prev.revision || len(ch.Certificates) > 0 || len(ch.Services) > 0 {
		return nil, false, nil
	}
	for _, name := range ch.Routes {
		if old := prev.route(name); old != nil && old.src.GetTls().GetMode() == edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE {
			return nil, false, nil
		}
		if src := s.Get(name); src != nil && src.GetTls().GetMode() == edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE {
			return nil, false, nil
		}
	}
	t := &Table{revision: s.Revision(), exact: prev.exact, wildcard: prev.wildcard, byName: prev.byName,
		challenges: prev.challenges, certs: prev.certs, checked: prev.checked, delta: true, from: prev.revision}
	if len(ch.Challenges) > 0 {
		t.challenges = make(map[string]string, len(s.Challenges()))
		for _, c := range s.Challenges() {
			t.challenges[c.GetToken()] = c.GetKeyAuthorization()
		}
	}
	e := t.edit()
	for _, name := range ch.Routes {
		if old := prev.route(name); old != nil {
			e.remove(old)
		}
		src := s.Get(name)
		if src == nil {
			t.removed = append(t.removed, name)
			continue
		}
		rt, err := p.routeFor(src, s.Service(src.GetService()), prev)
		if err != nil {
			return nil, false, err
		}
		e.put(t.withRedirect(rt))
	}
	e.done()
	if p.replaced += len(ch.Routes); p.replaced >= sweepEvery {
		p.sweep(t)
	}
	return t, true, nil
}

// sweep closes the transports and backend pools no route of t uses.
func (p *Proxy) sweep(t *Table) {
	p.replaced = 0
	used := make(map[transportKey]bool)
	usedPools := make(map[poolKey]bool)
	for _, rt := range t.byName.All() {
		used[rt.tkey] = true
		if rt.up != nil {
			for _, tg := range rt.up.targets {
				usedPools[tg.pool.key] = true
			}
		}
	}
	p.transports.retain(used)
	p.pools.retain(usedPools)
}

// withRedirect returns rt, or a copy of it, with the redirect flag t's certificates give it.
func (t *Table) withRedirect(rt *Route) *Route {
	if redirect := t.redirects(rt.src); redirect != rt.redirect {
		cp := *rt
		cp.redirect = redirect
		return &cp
	}
	return rt
}

// hasChecks reports whether rt has targets under active health checks.
func (rt *Route) hasChecks() bool {
	if rt.up == nil {
		return false
	}
	for _, tg := range rt.up.targets {
		if tg.active != nil {
			return true
		}
	}
	return false
}

// tableEdit changes a Table's maps: it copies a host's path index the first time it
// changes it, and sorts the route lists it changed when done.
type tableEdit struct {
	t               *Table
	exact, wildcard *cowmap.Builder[pathIndex]
	byName          *cowmap.Builder[*Route]
	owned           map[hostKey]pathIndex // path indexes copied (or made) by this edit
	unsorted        map[hostKey]map[string]bool
}

type hostKey struct {
	wildcard bool
	host     string
}

func (t *Table) edit() *tableEdit {
	return &tableEdit{t: t, exact: t.exact.Edit(), wildcard: t.wildcard.Edit(), byName: t.byName.Edit(),
		owned: make(map[hostKey]pathIndex), unsorted: make(map[hostKey]map[string]bool)}
}

func splitHost(h string) hostKey {
	h = strings.ToLower(h)
	if suffix, ok := strings.CutPrefix(h, "*."); ok {
		return hostKey{true, suffix}
	}
	return hostKey{false, h}
}

func (e *tableEdit) hosts(k hostKey) *cowmap.Builder[pathIndex] {
	if k.wildcard {
		return e.wildcard
	}
	return e.exact
}

// index returns k's path index, safe to change (nil if k has none and !create).
func (e *tableEdit) index(k hostKey, create bool) pathIndex {
	if idx := e.owned[k]; idx != nil {
		return idx
	}
	m := e.hosts(k)
	idx, ok := m.Get(k.host)
	if !ok && !create {
		return nil
	}
	cp := make(pathIndex, len(idx)+1)
	for prefix, rs := range idx {
		cp[prefix] = rs // the lists are shared until changed (see put and remove)
	}
	m.Set(k.host, cp)
	e.owned[k] = cp
	return cp
}

// put adds rt to the table (its name must not be in it, or have been removed).
func (e *tableEdit) put(rt *Route) {
	e.byName.Set(rt.name, rt)
	if rt.hasChecks() {
		e.t.checked++
	}
	for _, h := range rt.src.GetHosts() {
		k := splitHost(h)
		idx := e.index(k, true)
		rs := idx[rt.prefix]
		idx[rt.prefix] = append(rs[:len(rs):len(rs)], rt) // never writes into a shared list
		if e.unsorted[k] == nil {
			e.unsorted[k] = make(map[string]bool)
		}
		e.unsorted[k][rt.prefix] = true
	}
}

// remove takes rt out of the table.
func (e *tableEdit) remove(rt *Route) {
	e.byName.Delete(rt.name)
	if rt.hasChecks() {
		e.t.checked--
	}
	for _, h := range rt.src.GetHosts() {
		k := splitHost(h)
		idx := e.index(k, false)
		if idx == nil {
			continue
		}
		rs := slices.DeleteFunc(slices.Clone(idx[rt.prefix]), func(r *Route) bool { return r.name == rt.name })
		if len(rs) == 0 {
			delete(idx, rt.prefix)
		} else {
			idx[rt.prefix] = rs
		}
		if len(idx) == 0 {
			e.hosts(k).Delete(k.host)
			delete(e.owned, k)
		}
	}
}

// done sorts the changed route lists and stores the maps in the Table.
func (e *tableEdit) done() {
	for k, prefixes := range e.unsorted {
		idx := e.owned[k]
		if idx == nil {
			continue // emptied again
		}
		for prefix := range prefixes {
			slices.SortFunc(idx[prefix], func(a, b *Route) int {
				return cmp.Or(cmp.Compare(b.priority, a.priority), strings.Compare(a.name, b.name))
			})
		}
	}
	e.t.exact, e.t.wildcard, e.t.byName = e.exact.Map(), e.wildcard.Map(), e.byName.Map()
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
		if old := prev.route(src.GetName()); old != nil && old.src == src && old.svc == svc &&
			p.transports.current(old.tkey) && p.pools.current(old.up) {
			return old, nil
		}
	}
	return p.newRoute(src, svc)
}
