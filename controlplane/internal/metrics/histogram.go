package metrics

import (
	"math"
	"time"
)

// Latency histograms are log-bucketed: bucket i holds durations in [2^(i/8), 2^((i+1)/8))
// microseconds, so each bucket spans ~9% and a percentile read from the bucket's upper bound
// is within 9% of the truth. Buckets of different windows, hosts and routes add up, which
// makes the histograms mergeable (as HdrHistogram's are) while each is just a Redis hash of
// counters that a Lua script can increment.
const bucketsPerDoubling = 8

// bucket returns d's bucket index.
func bucket(d time.Duration) int {
	us := float64(d.Microseconds())
	if us < 1 {
		return 0
	}
	return int(math.Floor(bucketsPerDoubling * math.Log2(us)))
}

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
