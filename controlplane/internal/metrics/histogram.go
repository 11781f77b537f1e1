package metrics

import (
	"math"
	"math/bits"
	"time"
)

// Latency histograms are log-bucketed: bucket i holds durations in [2^(i/8), 2^((i+1)/8))
// microseconds, so each bucket spans ~9% and a percentile read from the bucket's upper bound
// is within 9% of the truth. Buckets of different windows, hosts and routes add up, which
// makes the histograms mergeable (as HdrHistogram's are) while each is just a Redis hash of
// counters that a Lua script can increment.
const bucketsPerDoubling = 8

// bucket returns d's bucket index: floor(8·log2(µs)), 0 below 1µs. Hot: called for every
// record; found from the highest bit and a comparison with the 7 bounds inside a doubling,
// not with a logarithm.
func bucket(d time.Duration) int {
	us := d.Microseconds()
	if us < 1 {
		return 0
	}
	e := bits.Len64(uint64(us)) - 1
	m := float64(us) / float64(uint64(1)<<e) // in [1, 2), exactly
	i := 0
	for i < bucketsPerDoubling-1 && m >= doublingBounds[i] {
		i++
	}
	return bucketsPerDoubling*e + i
}

// doublingBounds are 2^(k/8) for k = 1..7: where a bucket starts inside a doubling.
var doublingBounds = func() (b [bucketsPerDoubling - 1]float64) {
	for k := range b {
		b[k] = math.Exp2(float64(k+1) / bucketsPerDoubling)
	}
	return b
}()

// maxBuckets bounds bucket's results: a duration is below 2^63 ns, under 2^54 µs.
const maxBuckets = bucketsPerDoubling * 54

// bucketUpper returns the upper bound of bucket i.
func bucketUpper(i int) time.Duration {
	return time.Duration(math.Exp2(float64(i+1)/bucketsPerDoubling)) * time.Microsecond
}

// percentile returns the q-quantile (0..1) of a histogram given as bucket -> count.
func percentile(h map[int]int64, q float64) time.Duration {
	var total int64
	maxBucket := 0
	for b, n := range h {
		total += n
		maxBucket = max(maxBucket, b)
	}
	if total == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(total)))
	var seen int64
	for b := 0; b <= maxBucket; b++ {
		seen += h[b]
		if seen >= rank {
			return bucketUpper(b)
		}
	}
	return bucketUpper(maxBucket)
}
