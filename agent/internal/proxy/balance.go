package proxy

import (
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
)

// balancer picks target indexes by weighted round robin without locks. Over any run of total
// consecutive picks each target is chosen exactly weight times, interleaved rather than in
// bursts: pick n maps to slot (n·stride) mod total, where stride is coprime with total and
// near total/φ, and slots are split among targets by cumulative weight.
type balancer struct {
	n      int      // number of targets
	cum    []uint64 // cumulative weights; nil when all weights are equal
	total  uint64
	stride uint64
	next   atomic.Uint64
}

// newBalancer returns a balancer over len(weights) targets; weights[i] of 0 counts as 1.
func newBalancer(weights []uint32) *balancer {
	b := &balancer{n: len(weights)}
	equal := true
	for _, w := range weights {
		b.total += uint64(max(w, 1))
		b.cum = append(b.cum, b.total)
		equal = equal && max(w, 1) == max(weights[0], 1)
	}
	if equal {
		b.cum = nil
		return b
	}
	b.stride = coprimeNear(b.total, uint64(float64(b.total)/math.Phi))
	return b
}

// pick returns the index of the next target. Hot path: one atomic add and, with unequal
// weights, a binary search over the targets.
func (b *balancer) pick() int {
	if b.n == 1 {
		return 0
	}
	n := b.next.Add(1) - 1
	if b.cum == nil {
		return int(n % uint64(b.n))
	}
	slot := (n * b.stride) % b.total
	return sort.Search(len(b.cum), func(i int) bool { return b.cum[i] > slot })
}

func coprimeNear(total, guess uint64) uint64 {
	for s := max(guess, 1); ; s++ {
		if gcd(s, total) == 1 {
			return s
		}
	}
}

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// random returns a target index drawn at random in proportion to the weights. Hot path:
// a per-thread random number and, with unequal weights, a binary search.
func (b *balancer) random() int {
	if b.n == 1 {
		return 0
	}
	if b.cum == nil {
		return int(rand.Uint64N(uint64(b.n)))
	}
	slot := rand.Uint64N(b.total)
	return sort.Search(len(b.cum), func(i int) bool { return b.cum[i] > slot })
}
