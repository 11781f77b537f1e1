package proxy

import (
	"cmp"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Table is an immutable routing table. Match is safe for concurrent use.
type Table struct {
	exact    map[string]pathIndex // host -> routes
	wildcard map[string]pathIndex // "example.com" for "*.example.com" -> routes
	byName   map[string]*Route
}

// pathIndex maps a path prefix to its routes, ordered by priority (highest first), then name.
type pathIndex map[string][]*Route

// Route is the serving state of one route, built once per config change.
type Route struct {
	src      *edgeplanev1.Route
	name     string
	prefix   string
	priority int32
	methods  []string // empty: all
	handler  http.Handler
	tkey     transportKey
}

// Name returns the route's name.
func (r *Route) Name() string { return r.name }

// Len returns the number of routes in t.
func (t *Table) Len() int { return len(t.byName) }

func build(routes []*edgeplanev1.Route, prev *Table, tr *transports, log *slog.Logger) (*Table, error) {
	t := &Table{
		exact:    make(map[string]pathIndex),
		wildcard: make(map[string]pathIndex),
		byName:   make(map[string]*Route, len(routes)),
	}
	used := make(map[transportKey]bool)
	for _, src := range routes {
		rt, err := routeFor(src, prev, tr, log)
		if err != nil {
			return nil, err
		}
		t.byName[rt.name] = rt
		used[rt.tkey] = true
		for _, h := range src.GetHosts() {
			t.add(strings.ToLower(h), rt)
		}
	}
	t.sort()
	tr.retain(used)
	return t, nil
}

// routeFor returns prev's state for src if src is unchanged, else builds it.
func routeFor(src *edgeplanev1.Route, prev *Table, tr *transports, log *slog.Logger) (*Route, error) {
	if prev != nil {
		if old := prev.byName[src.GetName()]; old != nil && old.src == src && tr.current(old.tkey) {
			return old, nil
		}
	}
	return newRoute(src, tr, log)
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
