package requestlog

import (
	"strings"
	"testing"
)

func TestBlock_EachReadsEveryRecordAndSkipsOnlyTheBroken(t *testing.T) {
	a, b := sampleCompact(), sampleCompact()
	b.Path, b.Status = "/with\ttab\nand newline", 200
	block := string(a.Append(nil)) + "\n" + "1\tbroken" + "\n" + string(b.Append(nil))
	var got []Record
	var places []int
	bad := 0
	Each(map[string]any{BlockField: block}, func(i int, r *Record, err error) bool {
		if err != nil {
			bad++
			return true
		}
		got, places = append(got, *r), append(places, i)
		return true
	})
	if bad != 1 || len(got) != 2 || got[0] != want(&a) || got[1] != want(&b) || places[0] != 0 || places[1] != 2 {
		t.Errorf("Each: got %+v at %v with %d broken, want %+v and %+v at [0 2] with 1 broken", got, places, bad, want(&a), want(&b))
	}
	if _, err := Records(map[string]any{BlockField: block}); err == nil {
		t.Errorf("Records of a block with a broken record: got nil error")
	}
}

func TestBlock_EachReadsSingleRecordEntries(t *testing.T) {
	c := sampleCompact()
	w := want(&c)
	for name, v := range map[string]map[string]any{
		"compact": {Field: string(c.Append(nil))},
		"fields":  toMap(w.Values()),
	} {
		got, err := Records(v)
		if err != nil || len(got) != 1 || got[0] != w {
			t.Errorf("%s: got %+v %v, want [%+v]", name, got, err, w)
		}
	}
}

func TestRef_RoundTripAndOrder(t *testing.T) {
	r, ok := EntryRef("1700000000123-2", 7)
	if !ok || r.ID() != "1700000000123-131079" || r.Entry() != "1700000000123-2" {
		t.Fatalf("EntryRef: got %+v %q %q, want 1700000000123-131079 of entry 1700000000123-2", r, r.ID(), r.Entry())
	}
	back, ok := ParseRef(r.ID())
	if !ok || back != r {
		t.Errorf("ParseRef(%q): got %+v %v, want %+v", r.ID(), back, ok, r)
	}
	next, _ := EntryRef("1700000000123-3", 0)
	if next.Packed() <= r.Packed() {
		t.Errorf("a later entry's first record: got %d, want above %d", next.Packed(), r.Packed())
	}
	if _, ok := ParseRef("nope"); ok {
		t.Errorf("ParseRef(nope): got ok")
	}
}

func BenchmarkParseLine(b *testing.B) {
	c := sampleCompact()
	line := string(c.Append(nil))
	var r Record
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseLine(line, &r); err != nil {
			b.Fatal(err)
		}
	}
	_ = strings.Clone(r.Host)
}
