package metrics

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// bucketByLog is bucket's definition: floor(8·log2(µs)).
func bucketByLog(d time.Duration) int {
	us := float64(d.Microseconds())
	if us < 1 {
		return 0
	}
	return int(math.Floor(bucketsPerDoubling * math.Log2(us)))
}

// bucket (no logarithm) agrees with its definition for every duration up to 2^22 µs (4s)
// and for random ones up to the largest.
func TestBucket_AgreesWithTheLogarithmEverywhere(t *testing.T) {
	check := func(d time.Duration) {
		if got, want := bucket(d), bucketByLog(d); got != want {
			t.Fatalf("bucket(%v): got %d, want %d", d, got, want)
		}
		if b := bucket(d); b < 0 || b >= maxBuckets {
			t.Fatalf("bucket(%v) = %d: outside [0, %d)", d, b, maxBuckets)
		}
	}
	for us := int64(-1); us <= 1<<22; us++ {
		check(time.Duration(us) * time.Microsecond)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1 << 20 {
		check(time.Duration(rng.Int64N(math.MaxInt64)))
	}
	check(math.MaxInt64)
}
