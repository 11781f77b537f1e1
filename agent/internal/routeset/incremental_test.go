package routeset

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// randomDelta returns a delta on s: a few routes, certificates, challenges and services
// upserted (new or changed) or deleted, never a route naming a certificate.
func randomDelta(rng *rand.Rand, s *Set, rev int64) *edgeplanev1.ConfigUpdate {
	u := &edgeplanev1.ConfigUpdate{Revision: rev, BaseRevision: s.Revision()}
	used := map[string]bool{}
	pick := func(prefix string, n int) (string, bool) {
		k := fmt.Sprintf("%s%d", prefix, rng.IntN(n))
		if used[k] {
			return "", false
		}
		used[k] = true
		return k, true
	}
	for range rng.IntN(8) {
		name, ok := pick("r", 60)
		if !ok {
			continue
		}
		if rng.IntN(4) == 0 {
			u.DeletedRoutes = append(u.DeletedRoutes, name)
			continue
		}
		r := route(name)
		r.PathPrefix = fmt.Sprintf("/v%d", rng.IntN(3))
		u.Routes = append(u.Routes, r)
	}
	for range rng.IntN(3) {
		if name, ok := pick("c", 5); ok {
			if rng.IntN(3) == 0 {
				u.DeletedCertificates = append(u.DeletedCertificates, name)
			} else {
				c := cert(name)
				c.Domains = []string{fmt.Sprintf("d%d.test", rng.IntN(4))}
				u.Certificates = append(u.Certificates, c)
			}
		}
	}
	for range rng.IntN(3) {
		if tok, ok := pick("t", 5); ok {
			if rng.IntN(3) == 0 {
				u.DeletedChallenges = append(u.DeletedChallenges, tok)
			} else {
				u.Challenges = append(u.Challenges, challenge(tok))
			}
		}
	}
	for range rng.IntN(3) {
		if name, ok := pick("s", 5); ok {
			if rng.IntN(3) == 0 {
				u.DeletedServices = append(u.DeletedServices, name)
			} else {
				u.Services = append(u.Services, &edgeplanev1.ServiceEndpoints{Name: name,
					Targets: []*edgeplanev1.Target{{Url: fmt.Sprintf("http://127.0.0.1:%d", 9000+rng.IntN(3))}}})
			}
		}
	}
	return u
}

// TestSet_IncrementalEqualsFromScratch applies random deltas one by one and checks after
// each that the Set equals the one built from scratch by a snapshot of the same items
// (listed in another order): same items, same hash, same hash as Hash of the sorted lists.
func TestSet_IncrementalEqualsFromScratch(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var s *Set
		for rev := int64(1); rev <= 60; rev++ {
			u := randomDelta(rng, s, rev)
			next, err := s.Apply(u)
			if err != nil {
				t.Fatalf("seed %d revision %d: %v", seed, rev, err)
			}
			if ch := next.Changes(); ch.Snapshot || ch.Base != s.Revision() {
				t.Fatalf("Changes() = %+v, want a delta on %d", ch, s.Revision())
			}
			s = next
			snap := s.Snapshot()
			snap.Routes = slices.Clone(snap.Routes)
			rng.Shuffle(len(snap.Routes), func(i, j int) { snap.Routes[i], snap.Routes[j] = snap.Routes[j], snap.Routes[i] })
			fresh, err := (*Set)(nil).Apply(snap)
			if err != nil {
				t.Fatalf("seed %d revision %d: from scratch: %v", seed, rev, err)
			}
			if fresh.Hash() != s.Hash() {
				t.Fatalf("seed %d revision %d: incremental hash %s, from scratch %s", seed, rev, s.Hash(), fresh.Hash())
			}
			want, _ := Hash(fresh.Routes(), fresh.Certificates(), fresh.Challenges(), fresh.Services())
			if want != s.Hash() {
				t.Fatalf("seed %d revision %d: Hash() of the lists %s, Set's %s", seed, rev, want, s.Hash())
			}
			if !slices.EqualFunc(s.Routes(), fresh.Routes(), func(a, b *edgeplanev1.Route) bool { return proto.Equal(a, b) }) ||
				len(s.Certificates()) != len(fresh.Certificates()) || len(s.Challenges()) != len(fresh.Challenges()) ||
				len(s.Services()) != len(fresh.Services()) || s.Len() != fresh.Len() {
				t.Fatalf("seed %d revision %d: incremental and from-scratch sets differ", seed, rev)
			}
		}
	}
}

// TestSet_HashFollowsContentBackAndForth checks that changing a route and changing it back
// returns the first hash, and that a route changed in place changes the hash.
func TestSet_HashFollowsContentBackAndForth(t *testing.T) {
	s1, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{route("a"), route("b")}})
	changed := route("a")
	changed.PathPrefix = "/x"
	s2, _ := s1.Apply(&edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1, Routes: []*edgeplanev1.Route{changed}})
	s3, _ := s2.Apply(&edgeplanev1.ConfigUpdate{Revision: 3, BaseRevision: 2, Routes: []*edgeplanev1.Route{route("a")}})
	s4, _ := s3.Apply(&edgeplanev1.ConfigUpdate{Revision: 4, BaseRevision: 3, DeletedRoutes: []string{"a", "b"}})
	empty, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 9, Snapshot: true})
	if s2.Hash() == s1.Hash() || s3.Hash() != s1.Hash() || s4.Hash() != empty.Hash() {
		t.Errorf("hashes %s %s %s %s (empty %s): want 1 = 3, 2 different, 4 = empty", s1.Hash(), s2.Hash(), s3.Hash(), s4.Hash(), empty.Hash())
	}
}

func benchSet(b *testing.B, n int) *Set {
	rs := make([]*edgeplanev1.Route, n)
	for i := range rs {
		rs[i] = route(fmt.Sprintf("r%06d", i))
	}
	s, err := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: rs})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSet_ApplyOneRoute is one changed route on a config of n routes.
func BenchmarkSet_ApplyOneRoute(b *testing.B) {
	for _, n := range []int{10, 10_000, 100_000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			s := benchSet(b, n)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				r := route("r000005")
				r.PathPrefix = fmt.Sprintf("/%d", i)
				next, err := s.Apply(&edgeplanev1.ConfigUpdate{Revision: s.Revision() + 1, BaseRevision: s.Revision(), Routes: []*edgeplanev1.Route{r}})
				if err != nil {
					b.Fatal(err)
				}
				s = next
			}
		})
	}
}
