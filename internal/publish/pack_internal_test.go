package publish

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// entries returns what pack made of the spare buffers: each entry as "stream field recs: value".
func packed(p *Publisher) []string {
	for i := range p.values {
		s := &p.values[i]
		s.mu.Lock()
		s.cur, p.spare[i] = p.spare[i], s.cur
		s.full.Store(false)
		s.mu.Unlock()
	}
	p.pack()
	var out []string
	for _, e := range p.pending {
		out = append(out, fmt.Sprintf("%s %s %d: %s", e.stream, e.field, e.recs, p.value(&e)))
	}
	p.pending, p.out = p.pending[:0], p.out[:0]
	for i := range p.spare {
		p.spare[i].reset()
	}
	return out
}

func packing(maxRecs, maxBytes int) *Publisher {
	return New(Config{Buffer: 1 << 12, Pack: &Packing{Field: "r", Into: "b", MaxRecords: maxRecs, MaxBytes: maxBytes}})
}

func equal(t *testing.T, got, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("entries:\n got %q\nwant %q", got, want)
	}
}

// Blocks are cut at MaxRecords, and the block left open by one buffer is filled from the next.
func TestPack_CutsAtMaxRecordsAcrossBuffers(t *testing.T) {
	p := packing(3, 1<<10)
	for _, v := range []string{"a", "b", "c", "d"} {
		p.PublishValue(0, "s", "r", []byte(v))
	}
	p.PublishValue(1, "s", "r", []byte("e"))
	p.PublishValue(1, "s", "r", []byte("f"))
	p.PublishValue(1, "s", "r", []byte("g"))
	equal(t, packed(p), []string{"s b 3: a\nb\nc", "s b 3: d\ne\nf", "s b 1: g"})
}

// Blocks are cut so that no value passes MaxBytes; a record larger than that goes alone.
func TestPack_CutsAtMaxBytesAndSendsAnOversizedRecordAlone(t *testing.T) {
	p := packing(100, 5)
	for _, v := range []string{"ab", "cd", "e", "0123456789", "f", "gh"} {
		p.PublishValue(0, "s", "r", []byte(v))
	}
	equal(t, packed(p), []string{"s b 2: ab\ncd", "s b 1: e", "s b 1: 0123456789", "s b 2: f\ngh"})
}

// Records of other streams and fields are kept apart: each stream's records in its own
// blocks, other fields one to an entry, every caller's records in order.
func TestPack_KeepsStreamsAndFieldsApart(t *testing.T) {
	p := packing(10, 1<<10)
	p.PublishValue(0, "s", "r", []byte("1"))
	p.PublishValue(0, "t", "r", []byte("t1"))
	p.PublishValue(0, "s", "other", []byte("x"))
	p.PublishValue(0, "s", "r", []byte("2"))
	p.PublishValue(0, "t", "r", []byte("t2"))
	p.PublishValue(1, "t", "r", []byte("t3"))
	equal(t, packed(p), []string{"s b 2: 1\n2", "t b 3: t1\nt2\nt3", "s other 1: x"})
	if st := p.Stats(); st.Buffered != 0 {
		t.Errorf("buffered after pack: %d", st.Buffered)
	}
}

// A full buffer drops the record and counts it, packed or not; the bound is the buffer's
// records and bytes together.
func TestPublishValue_FullBufferDropsAndCounts(t *testing.T) {
	p := New(Config{Buffer: 2 * valueShards, Pack: &Packing{Field: "r", Into: "b"}})
	p.PublishValue(0, "s", "r", []byte("a"))
	p.PublishValue(0, "s", "x", []byte("b"))
	p.PublishValue(0, "s", "r", []byte("c"))
	p.PublishValue(0, "s", "x", []byte("d"))
	if st := p.Stats(); st.Dropped != 2 || st.Buffered != 2 {
		t.Errorf("stats: got %+v, want 2 buffered, 2 dropped", st)
	}
	big := make([]byte, p.maxBytes)
	p.PublishValue(1, "s", "r", big)
	if st := p.Stats(); st.Dropped != 3 {
		t.Errorf("a record over the byte bound: got %d dropped, want 3", st.Dropped)
	}
}

// Packed records cost no allocation either once the buffer has grown.
func TestPublishValue_PackedAllocatesNothing(t *testing.T) {
	p := packing(256, 64<<10)
	rec := make([]byte, 200)
	for range 100 {
		p.PublishValue(3, "s", "r", rec)
	}
	p.values[3].cur.reset()
	if n := testing.AllocsPerRun(50, func() { p.PublishValue(3, "s", "r", rec) }); n != 0 {
		t.Errorf("PublishValue: got %v allocations, want 0", n)
	}
}

// BenchmarkPublishValue_Packed is the request path's part: one ~130-byte record into a
// packed buffer, emptied by pack as the sender would.
func BenchmarkPublishValue_Packed(b *testing.B) {
	p := packing(256, 64<<10)
	rec := []byte(strings.Repeat("x", 130))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.PublishValue(uint8(i), "s", "r", rec)
		if i++; i%4096 == 0 {
			packed(p)
		}
	}
}

// A packed record holding a newline (which Packing forbids) still goes out, as two lines.
func TestPack_RecordWithANewlineStillGoesOut(t *testing.T) {
	p := packing(2, 1<<10)
	p.PublishValue(0, "s", "r", []byte("a\nb"))
	p.PublishValue(0, "s", "r", []byte("c"))
	p.PublishValue(0, "s", "r", []byte("d"))
	got := strings.Join(packed(p), "|")
	if !strings.Contains(got, "a\nb") || !strings.Contains(got, "c") || !strings.Contains(got, "d") {
		t.Errorf("entries %q: want a, b, c and d sent", got)
	}
}

// BenchmarkPublishValue_PackedParallel: callers on every core, each record to a random
// buffer (as the proxy's span ids pick them) or to the caller's own; every 1024 records a
// caller empties the buffers as the sender does. The buffers are large enough that nothing
// is dropped.
func BenchmarkPublishValue_PackedParallel(b *testing.B) {
	for _, mode := range []string{"random", "own"} {
		b.Run(mode, func(b *testing.B) {
			p := New(Config{Buffer: 1 << 16, Pack: &Packing{Field: "r", Into: "b"}})
			rec := []byte(strings.Repeat("x", 130))
			var mu sync.Mutex // one drain at a time, as one sender
			var next atomic.Uint32
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				own := uint8(next.Add(1))
				x := uint32(own)*2654435761 + 1 // xorshift needs a nonzero state
				for i := 1; pb.Next(); i++ {
					x ^= x << 13
					x ^= x >> 17
					x ^= x << 5
					s := own
					if mode == "random" {
						s = uint8(x)
					}
					p.PublishValue(s, "s", "r", rec)
					if i%1024 == 0 {
						mu.Lock()
						drain(p)
						mu.Unlock()
					}
				}
			})
			if st := p.Stats(); st.Dropped > 0 {
				b.Errorf("dropped %d records: the benchmark measures drops", st.Dropped)
			}
		})
	}
}

// drain empties the buffers as the sender does, without Redis.
func drain(p *Publisher) {
	for i := range p.values {
		s := &p.values[i]
		s.mu.Lock()
		s.cur, p.spare[i] = p.spare[i], s.cur
		s.full.Store(false)
		s.mu.Unlock()
	}
	p.pack()
	p.pending, p.out = p.pending[:0], p.out[:0]
	for i := range p.spare {
		p.spare[i].reset()
	}
}

// A buffer is marked full only when it is: one record too large for it is dropped without
// keeping the smaller ones after it out; a full buffer takes records again once the sender
// has taken what it held.
func TestPublishValue_FullMarkOnlyWhenFull(t *testing.T) {
	p := New(Config{Buffer: 2 * valueShards, Pack: &Packing{Field: "r", Into: "b"}})
	p.PublishValue(0, "s", "r", make([]byte, p.maxBytes))
	p.PublishValue(0, "s", "r", []byte("a"))
	if st := p.Stats(); st.Dropped != 1 || st.Buffered != 1 {
		t.Errorf("after one oversized record: got %+v, want it dropped and the next one buffered", st)
	}
	p.PublishValue(0, "s", "r", []byte("b"))
	p.PublishValue(0, "s", "r", []byte("c"))
	if !p.values[0].full.Load() {
		t.Fatal("buffer holding all its records not marked full")
	}
	packed(p)
	p.PublishValue(0, "s", "r", []byte("d"))
	if st := p.Stats(); st.Buffered != 1 {
		t.Errorf("after the sender took the buffer: got %+v, want the record buffered", st)
	}
}

// A run of directRun or more records of one buffer makes entries of its own, cut to size and
// sent from where the records are (no copy); what is left of it, and shorter runs, fill
// entries together. The entries hold the same records in the same order either way.
func TestPack_LongRunsGoOutWhereTheyAre(t *testing.T) {
	p := packing(30, 1<<10)
	var recs []string
	for i := range 70 {
		recs = append(recs, fmt.Sprintf("r%d", i))
		p.PublishValue(0, "s", "r", []byte(recs[i]))
	}
	for _, v := range []string{"a", "b", "c"} {
		p.PublishValue(1, "s", "r", []byte(v))
	}
	p.PublishValue(2, "s", "r", []byte("d"))
	want := []string{"s b 30: " + strings.Join(recs[:30], "\n"), "s b 30: " + strings.Join(recs[30:60], "\n"),
		"s b 14: " + strings.Join(recs[60:], "\n") + "\na\nb\nc\nd"}
	for i := range p.values {
		s := &p.values[i]
		s.cur, p.spare[i] = p.spare[i], s.cur
	}
	p.pack()
	var got []string
	direct := 0
	for _, e := range p.pending {
		got = append(got, fmt.Sprintf("%s %s %d: %s", e.stream, e.field, e.recs, p.value(&e)))
		if e.direct != nil {
			direct++
		}
	}
	equal(t, got, want)
	if direct != 2 {
		t.Errorf("%d entries sent from where their records are, want the long run's 2 full ones", direct)
	}
	// Cut at MaxBytes too: 40 records of 40 bytes with their newline, 6 to an entry of at
	// most 256 bytes (the last 4 copied).
	p = packing(100, 256)
	long := strings.Repeat("x", 39)
	for range 40 {
		p.PublishValue(0, "s", "r", []byte(long))
	}
	entries := packed(p)
	for i, e := range entries {
		n := 6
		if i == len(entries)-1 {
			n = 4
		}
		if e != fmt.Sprintf("s b %d: %s", n, strings.TrimSuffix(strings.Repeat(long+"\n", n), "\n")) {
			t.Errorf("entry %d: got %q, want %d records", i, e, n)
		}
	}
	if len(entries) != 7 {
		t.Errorf("got %d entries, want 6 of 6 records and one of 4", len(entries))
	}
}
