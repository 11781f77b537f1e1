package requestlog

import (
	"math/rand/v2"
	"slices"
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

// splitLine (8 bytes at a time) splits any line as splitting at every tab does: the same
// values, too many tabs noticed, backslashes found at any place (in a line that is not too
// long), for random lines thick with tabs and backslashes and for records' lines.
func TestParseLine_SplitsLikeATabSearch(t *testing.T) {
	ref := func(line string) (vals []string, plain bool) {
		return strings.Split(line, "\t"), !strings.Contains(line, `\`)
	}
	check := func(line string) {
		t.Helper()
		var parts [compactValues]string
		n, plain := splitLine(line, &parts)
		vals, wantPlain := ref(line)
		if len(vals) > compactValues { // malformed: whether it has a backslash does not matter
			if n != compactValues+1 {
				t.Fatalf("splitLine(%q): got %d values, want too many (%d)", line, n, compactValues+1)
			}
			return
		}
		if plain != wantPlain {
			t.Fatalf("splitLine(%q): plain %v, want %v", line, plain, wantPlain)
		}
		if n != len(vals) || !slices.Equal(parts[:n], vals) {
			t.Fatalf("splitLine(%q): got %d %q, want %q", line, n, parts[:n], vals)
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	alphabets := []string{"\t\t\t\\ab0\xff\x80\x09\x5c", "\tabcdefgh\\0123456789xyz\xff\x80", "\tabcdefghijklmnopqrstuvwxyz0123456789./:\x80"}
	for k := range 300000 {
		alphabet := alphabets[k%3]
		b := make([]byte, rng.IntN(200))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		check(string(b))
	}
	c := sampleCompact()
	for at := 0; at < 60; at++ {
		c.Path = strings.Repeat("p", at) + `\` + strings.Repeat("q", 60-at)
		check(string(c.Append(nil)))
	}
}

// FuzzParseLine_SplitsLikeStringsSplit: go test ./internal/requestlog -fuzz ParseLine_Splits
func FuzzParseLine_SplitsLikeStringsSplit(f *testing.F) {
	c := sampleCompact()
	f.Add(string(c.Append(nil)))
	f.Add("1\ta\\tb\t\t\\")
	f.Add(strings.Repeat("\t", 20))
	f.Fuzz(func(t *testing.T, line string) {
		var parts [compactValues]string
		n, plain := splitLine(line, &parts)
		vals := strings.Split(line, "\t")
		if len(vals) > compactValues {
			if n != compactValues+1 {
				t.Fatalf("splitLine(%q): got %d values, want too many", line, n)
			}
			return
		}
		if n != len(vals) || !slices.Equal(parts[:n], vals) || plain == strings.Contains(line, `\`) {
			t.Fatalf("splitLine(%q): got %q plain %v, want %q", line, parts[:n], plain, vals)
		}
	})
}
