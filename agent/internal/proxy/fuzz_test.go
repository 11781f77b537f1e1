package proxy

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

var (
	fuzzHosts    = []string{"a.test", "b.a.test", "*.a.test", "*.test", "c.b.a.test", "*.b.a.test", "A.Test", "x.y"}
	fuzzPrefixes = []string{"", "/", "/api", "/api/", "/api/v1", "/a", "/api/v1/x", "/%41"}
	fuzzMethods  = []string{"GET", "POST", "PUT"}
)

// FuzzTable builds tables from fuzzed routes (picked from small sets so they collide, plus
// one free-form host and prefix) and checks Match against a brute-force reading of its
// documented rules.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 2, 2, 1, 3}, "x.test", "/free", "b.a.test", "/api/v1/users", uint8(0))
	f.Add([]byte{1, 3, 7, 1, 2, 4, 2, 2, 5, 1, 0, 3}, "*.x.test", "/api", "q.b.a.test", "/api/", uint8(1))
	f.Add([]byte{6, 5, 0, 0}, "", "", "A.TEST:80", "", uint8(2))
	p := newProxy(f, Config{})
	f.Fuzz(func(t *testing.T, spec []byte, freeHost, freePrefix, host, path string, method uint8) {
		routes := fuzzRoutes(spec, freeHost, freePrefix)
		s, err := (*routeset.Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: routes})
		if err != nil {
			return // the agent refuses this config; nothing to match
		}
		tbl, err := p.Build(s)
		if err != nil {
			t.Fatalf("Build() error = %v for a config routeset accepts", err)
		}
		m := fuzzMethods[int(method)%len(fuzzMethods)]
		got := tbl.Match(host, path, m)
		want := referenceMatch(s.Routes(), host, path, m)
		if name(got) != want {
			t.Fatalf("Match(%q, %q, %s) = %q, want %q; routes:\n%s", host, path, m, name(got), want, dump(s.Routes()))
		}
	})
}

func fuzzRoutes(spec []byte, freeHost, freePrefix string) []*edgeplanev1.Route {
	var routes []*edgeplanev1.Route
	for i := 0; i+3 < len(spec) && len(routes) < 16; i += 4 {
		r := &edgeplanev1.Route{Name: fmt.Sprintf("r%02d", len(routes)), Hosts: []string{fuzzHosts[int(spec[i])%len(fuzzHosts)]},
			PathPrefix: fuzzPrefixes[int(spec[i+1])%len(fuzzPrefixes)], Priority: int32(spec[i+3] % 4),
			Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}}}
		for j, m := range fuzzMethods {
			if spec[i+2]&(1<<j) != 0 {
				r.Methods = append(r.Methods, m)
			}
		}
		routes = append(routes, r)
	}
	if freeHost != "" && len(routes) > 0 {
		routes[0].Hosts = append(routes[0].Hosts, freeHost)
		routes[0].PathPrefix = freePrefix
	}
	return routes
}

// referenceMatch is Match's contract, by brute force: among routes of the exact host (else
// of the longest matching wildcard, and so on) whose prefix covers path on a segment
// boundary and whose methods allow method: the highest priority, then the longest prefix,
// then the lowest name.
func referenceMatch(routes []*edgeplanev1.Route, host, path, method string) string {
	host = strings.ToLower(hostname(host))
	if path == "" {
		path = "/"
	}
	entries := []string{host}
	for s := host; strings.Contains(s, "."); {
		s = s[strings.IndexByte(s, '.')+1:]
		entries = append(entries, "*."+s)
	}
	for _, h := range entries {
		var cands []*edgeplanev1.Route
		for _, r := range routes {
			if slices.ContainsFunc(r.GetHosts(), func(rh string) bool { return strings.ToLower(rh) == h }) &&
				covers(cmp.Or(r.GetPathPrefix(), "/"), path) &&
				(len(r.GetMethods()) == 0 || slices.Contains(r.GetMethods(), method)) {
				cands = append(cands, r)
			}
		}
		if len(cands) > 0 {
			return slices.MinFunc(cands, func(a, b *edgeplanev1.Route) int {
				return cmp.Or(cmp.Compare(b.GetPriority(), a.GetPriority()),
					cmp.Compare(len(cmp.Or(b.GetPathPrefix(), "/")), len(cmp.Or(a.GetPathPrefix(), "/"))),
					strings.Compare(a.GetName(), b.GetName()))
			}).GetName()
		}
	}
	return ""
}

func covers(prefix, path string) bool {
	return strings.HasPrefix(path, prefix) &&
		(len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/')
}

func name(r *Route) string {
	if r == nil {
		return ""
	}
	return r.Name()
}

func dump(routes []*edgeplanev1.Route) string {
	var b strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&b, "  %s hosts=%q prefix=%q methods=%v priority=%d\n", r.GetName(), r.GetHosts(), r.GetPathPrefix(), r.GetMethods(), r.GetPriority())
	}
	return b.String()
}
