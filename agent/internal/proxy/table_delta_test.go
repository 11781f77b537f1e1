package proxy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// dumpTable lists t's lookup structure: "host prefix -> names in order", plus the route
// names and redirect flags, sorted.
func dumpTable(t *Table) []string {
	var out []string
	for name, idx := range t.exact.All() {
		for prefix, rs := range idx {
			out = append(out, fmt.Sprintf("exact %s %s -> %s", name, prefix, routeNames(rs)))
		}
	}
	for name, idx := range t.wildcard.All() {
		for prefix, rs := range idx {
			out = append(out, fmt.Sprintf("wild %s %s -> %s", name, prefix, routeNames(rs)))
		}
	}
	for name, rt := range t.byName.All() {
		out = append(out, fmt.Sprintf("route %s redirect=%v checks=%v", name, rt.redirect, rt.hasChecks()))
	}
	out = append(out, fmt.Sprintf("challenges %v checked %d len %d", t.challenges, t.checked, t.Len()))
	slices.Sort(out)
	return out
}

func routeNames(rs []*Route) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.name + " ")
	}
	return b.String()
}

// randomRouteDelta changes a few of 40 routes over 8 hosts (some wildcards), with priorities,
// prefixes, methods, and sometimes a challenge.
func randomRouteDelta(rng *rand.Rand, s *routeset.Set) *edgeplanev1.ConfigUpdate {
	u := &edgeplanev1.ConfigUpdate{Revision: s.Revision() + 1, BaseRevision: s.Revision()}
	used := map[string]bool{}
	for range rng.IntN(6) + 1 {
		name := fmt.Sprintf("r%d", rng.IntN(40))
		if used[name] {
			continue
		}
		used[name] = true
		if rng.IntN(4) == 0 {
			u.DeletedRoutes = append(u.DeletedRoutes, name)
			continue
		}
		var hosts []string
		for range rng.IntN(2) + 1 {
			h := fmt.Sprintf("h%d.test", rng.IntN(8))
			if rng.IntN(4) == 0 {
				h = "*." + h
			}
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
		r := &edgeplanev1.Route{Name: name, Hosts: hosts, PathPrefix: []string{"", "/a", "/a/b"}[rng.IntN(3)],
			Priority: int32(rng.IntN(3)), Targets: targets(fmt.Sprintf("http://127.0.0.1:%d", 1+rng.IntN(3)))}
		if rng.IntN(3) == 0 {
			r.Methods = []string{"GET"}
		}
		u.Routes = append(u.Routes, r)
	}
	if rng.IntN(5) == 0 {
		u.Challenges = []*edgeplanev1.AcmeChallenge{{Token: fmt.Sprintf("t%d", rng.IntN(3)), KeyAuthorization: "k"}}
	}
	return u
}

// TestBuild_DeltaEqualsFullBuild applies random deltas to a Proxy (incremental builds) and
// checks after each that its Table equals a full build of the same Set by a fresh Proxy,
// and that both route every probe request alike.
func TestBuild_DeltaEqualsFullBuild(t *testing.T) {
	for seed := range uint64(10) {
		rng := rand.New(rand.NewPCG(seed, 3))
		p := newProxy(t, Config{})
		var s *routeset.Set
		for range 80 {
			var u *edgeplanev1.ConfigUpdate
			if s == nil {
				u = randomRouteDelta(rng, s)
				u.Snapshot = true
			} else {
				u = randomRouteDelta(rng, s)
			}
			next, err := s.Apply(u)
			if err != nil {
				t.Fatal(err)
			}
			s = next
			inc, err := p.Build(s)
			if err != nil {
				t.Fatal(err)
			}
			p.Swap(inc)
			fresh := newProxy(t, Config{})
			full, err := fresh.buildFull(nil, s)
			if err != nil {
				t.Fatal(err)
			}
			if a, b := dumpTable(inc), dumpTable(full); !slices.Equal(a, b) {
				t.Fatalf("seed %d revision %d: incremental table\n%s\nfull build\n%s", seed, s.Revision(),
					strings.Join(a, "\n"), strings.Join(b, "\n"))
			}
			for h := range 8 {
				for _, host := range []string{fmt.Sprintf("h%d.test", h), fmt.Sprintf("x.h%d.test", h)} {
					for _, path := range []string{"/", "/a", "/a/b/c"} {
						for _, m := range []string{"GET", "POST"} {
							if a, b := inc.Match(host, path, m), full.Match(host, path, m); (a == nil) != (b == nil) || (a != nil && a.name != b.name) {
								t.Fatalf("seed %d: %s %s%s: incremental %v, full %v", seed, m, host, path, a, b)
							}
						}
					}
				}
			}
		}
		if !p.Table().delta && s.Revision() > 1 {
			t.Errorf("seed %d: the last table was a full build, want incremental", seed)
		}
	}
}

// BenchmarkBuild_OneRoute is one changed route on a table of n routes (Build and Swap).
func BenchmarkBuild_OneRoute(b *testing.B) {
	for _, n := range []int{10, 10_000, 100_000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			rs := make([]*edgeplanev1.Route, n)
			for i := range rs {
				rs[i] = &edgeplanev1.Route{Name: fmt.Sprintf("r%06d", i), Hosts: []string{fmt.Sprintf("h%06d.example.com", i)},
					Targets: targets("http://127.0.0.1:1")}
			}
			p := newProxy(b, Config{})
			s := mustSet(b, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: rs})
			t0, err := p.Build(s)
			if err != nil {
				b.Fatal(err)
			}
			p.Swap(t0)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r := &edgeplanev1.Route{Name: "r000005", Hosts: []string{fmt.Sprintf("v%d.example.com", i)}, Targets: targets("http://127.0.0.1:1")}
				next, err := s.Apply(&edgeplanev1.ConfigUpdate{Revision: s.Revision() + 1, BaseRevision: s.Revision(), Routes: []*edgeplanev1.Route{r}})
				if err != nil {
					b.Fatal(err)
				}
				s = next
				tbl, err := p.Build(s)
				if err != nil {
					b.Fatal(err)
				}
				p.Swap(tbl)
			}
		})
	}
}
