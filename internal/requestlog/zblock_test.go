package requestlog

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
)

// A compressed block reads as the same records, in the same places, as its text.
func TestZBlock_EachReadsTheSameRecordsAsText(t *testing.T) {
	a, b := sampleCompact(), sampleCompact()
	b.Path, b.Status = "/with\ttab\nand newline", 200
	text := string(a.Append(nil)) + "\n1\tbroken\n" + string(b.Append(nil))
	z := AppendZBlock([]byte("kept"), []byte(text))
	if !strings.HasPrefix(string(z), "kept") {
		t.Fatalf("AppendZBlock did not append: got %q", z)
	}
	v := map[string]any{ZBlockField: string(z[len("kept"):])}
	read := func(v map[string]any) (recs []Record, places []int, bad int) {
		Each(v, func(i int, r *Record, err error) bool {
			if err != nil {
				bad++
				return true
			}
			recs, places = append(recs, *r), append(places, i)
			return true
		})
		return
	}
	gotR, gotP, gotBad := read(v)
	wantR, wantP, wantBad := read(map[string]any{BlockField: text})
	if len(gotR) != 2 || gotBad != wantBad || len(gotR) != len(wantR) || gotR[0] != wantR[0] || gotR[1] != wantR[1] || gotP[1] != wantP[1] {
		t.Errorf("compressed: got %+v at %v (%d bad), want %+v at %v (%d bad)", gotR, gotP, gotBad, wantR, wantP, wantBad)
	}
	if s, ok, err := BlockText(v); !ok || err != nil || s != text {
		t.Errorf("BlockText: got %q %v %v, want the text", s, ok, err)
	}
}

// A compressed block of records as an agent packs them is well under half their text.
func TestZBlock_CompressesABusyRoutesRecords(t *testing.T) {
	var text []byte
	for i := range MaxBlockRecords {
		c := sampleCompact()
		c.TraceID[0], c.TraceID[7], c.SpanID[3] = byte(i), byte(i*7), byte(i*13)
		c.Duration += time.Duration(i) * time.Microsecond
		if i > 0 {
			text = append(text, '\n')
		}
		text = c.Append(text)
	}
	if z := AppendZBlock(nil, text); len(z)*2 > len(text) {
		t.Errorf("compressed %d bytes of records to %d, want under half", len(text), len(z))
	}
}

// A compressed block that does not decompress, or claims more than MaxZBlockText, is one
// malformed record and nothing else; so is a block field that is not text.
func TestZBlock_UndecodableIsMalformed(t *testing.T) {
	huge := s2.Encode(nil, make([]byte, MaxZBlockText+1))
	whole := AppendZBlock(nil, []byte(strings.Repeat("1\tx\n", 100)))
	line := "1\tx\n"
	hugePlain := strings.Repeat(line, MaxZBlockText/len(line)+1) // every line a record Each reads
	for name, v := range map[string]map[string]any{
		"garbage":         {ZBlockField: "not s2 at all"},
		"empty":           {ZBlockField: ""},
		"truncated":       {ZBlockField: string(whole[:len(whole)/2])},
		"too large":       {ZBlockField: string(huge)},
		"not text":        {ZBlockField: 42},
		"plain not text":  {BlockField: 42},
		"plain too large": {BlockField: hugePlain},
	} {
		calls := 0
		Each(v, func(i int, r *Record, err error) bool {
			calls++
			if i != 0 || !errors.Is(err, ErrMalformed) {
				t.Errorf("%s: got record %d, %v; want ErrMalformed at 0", name, i, err)
			}
			return true
		})
		if calls != 1 {
			t.Errorf("%s: Each called fn %d times, want once", name, calls)
		}
		if _, ok, err := BlockText(v); !ok || !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: BlockText: got ok %v, %v; want a block that is malformed", name, ok, err)
		}
	}
}
