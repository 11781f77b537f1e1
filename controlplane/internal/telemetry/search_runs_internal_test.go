package telemetry

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// Postings put in runs (consecutive places of an entry under one key and hash) read back,
// through eachPosting, as exactly the postings put, in order, whatever the mix of runs,
// jumps to another entry, places wrapping into the next sequence, and values of one shard
// (different hashes) interleaved.
func TestPostings_RunsReadBackAsThePostingsPut(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for round := range 200 {
		b := postings{width: 60000, byKey: map[postingKey]int{}}
		type put struct {
			h uint32
			p uint64
		}
		want := map[postingKey][]put{}
		p := uint64(rng.IntN(1000))<<32 | uint64(rng.IntN(4))<<16
		for range 2000 {
			switch r := rng.IntN(10); {
			case r < 6:
				p++ // the next place (of the next sequence after place 65535)
			case r < 8:
				p += uint64(1+rng.IntN(3)) << 16 // another entry
				p &^= 1<<16 - 1
			default:
				p += uint64(rng.IntN(3))
			}
			if uint16(p) == 0 && rng.IntN(2) == 0 {
				p |= 1<<16 - 1 - uint64(rng.IntN(2)) // a place near the top
			}
			k := postingKey{start: 0, n: uint32(rng.IntN(2)), field: uint8(rng.IntN(len(termLetters)))}
			var h uint32
			if k.field >= firstSharded {
				h = uint32(1 + rng.IntN(2)) // two values of one shard
			}
			b.put(k, h, p)
			want[k] = append(want[k], put{h, p})
		}
		for i, k := range b.order {
			size := postingSize(k.hashed())
			var got []put
			eachPosting(string(b.bufs[i]), k.hashed(), func(h uint32, p uint64) { got = append(got, put{h, p}) })
			if !slices.Equal(got, want[k]) {
				t.Fatalf("round %d, key %v: got %d postings %v, want %d %v", round, k, len(got), got, len(want[k]), want[k])
			}
			if len(b.bufs[i]) > len(want[k])*size {
				t.Fatalf("round %d, key %v: %d bytes for %d postings of %d", round, k, len(b.bufs[i]), len(want[k]), size)
			}
		}
	}
}
