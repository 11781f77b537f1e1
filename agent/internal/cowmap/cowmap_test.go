package cowmap

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestMap_EditsMatchAPlainMap applies random edits to a Map and to a plain map side by side
// and checks that every version keeps its contents after later edits.
func TestMap_EditsMatchAPlainMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var m Map[int]
	want := map[string]int{}
	type version struct {
		m    Map[int]
		want map[string]int
	}
	var versions []version
	for round := range 200 {
		b := m.Edit()
		for range rng.IntN(50) + 1 {
			k := fmt.Sprintf("k%d", rng.IntN(500))
			if rng.IntN(3) == 0 {
				b.Delete(k)
				delete(want, k)
			} else {
				b.Set(k, round)
				want[k] = round
			}
		}
		m = b.Map()
		cp := make(map[string]int, len(want))
		for k, v := range want {
			cp[k] = v
		}
		versions = append(versions, version{m, cp})
	}
	for i, v := range versions {
		if v.m.Len() != len(v.want) {
			t.Fatalf("version %d: Len() = %d, want %d", i, v.m.Len(), len(v.want))
		}
		n := 0
		for k, got := range v.m.All() {
			n++
			if w, ok := v.want[k]; !ok || w != got {
				t.Fatalf("version %d: %q = %d, want %d (present %v)", i, k, got, w, ok)
			}
		}
		if n != len(v.want) {
			t.Fatalf("version %d: All() yielded %d keys, want %d", i, n, len(v.want))
		}
		for k, w := range v.want {
			if got, ok := v.m.Get(k); !ok || got != w {
				t.Fatalf("version %d: Get(%q) = %d, %v; want %d", i, k, got, ok, w)
			}
		}
	}
}

func TestMap_ZeroAndEmpty(t *testing.T) {
	var m Map[string]
	if _, ok := m.Get("x"); ok || m.Len() != 0 {
		t.Fatal("zero Map is not empty")
	}
	b := m.Edit()
	b.Set("x", "1")
	b.Delete("x")
	b.Delete("missing")
	if e := b.Map(); e.Len() != 0 || e.s != nil {
		t.Errorf("emptied Map: Len %d, shards %v; want the zero Map", e.Len(), e.s != nil)
	}
}

func BenchmarkMap_Get(b *testing.B) {
	bl := Map[int]{}.Edit()
	for i := range 100_000 {
		bl.Set(fmt.Sprintf("h%06d.example.com", i), i)
	}
	m := bl.Map()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, ok := m.Get("h012345.example.com"); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkMap_EditOne(b *testing.B) {
	bl := Map[int]{}.Edit()
	for i := range 100_000 {
		bl.Set(fmt.Sprintf("h%06d.example.com", i), i)
	}
	m := bl.Map()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := m.Edit()
		e.Set("h012345.example.com", i)
		m = e.Map()
	}
}
