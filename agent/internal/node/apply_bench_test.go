package node

import (
	"context"
	"fmt"
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// benchRoutes returns n routes, each with its own host, all sending to one target.
func benchRoutes(n int) []*edgeplanev1.Route {
	rs := make([]*edgeplanev1.Route, n)
	for i := range rs {
		rs[i] = route(fmt.Sprintf("r%06d", i), fmt.Sprintf("h%06d.example.com", i), "http://127.0.0.1:9")
	}
	return rs
}

// BenchmarkApplyDelta times one route update through the agent's apply path (routeset,
// table build and swap, disk cache) on a table of n routes.
func BenchmarkApplyDelta(b *testing.B) {
	for _, n := range []int{10, 10_000, 100_000} {
		b.Run(fmt.Sprintf("routes=%d", n), func(b *testing.B) {
			a, err := New(Config{NodeID: "bench", CacheDir: b.TempDir()})
			if err != nil {
				b.Fatal(err)
			}
			ap := (*applier)(a)
			ctx := context.Background()
			if _, err := ap.Apply(ctx, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: benchRoutes(n)}); err != nil {
				b.Fatal(err)
			}
			if a.cache != nil {
				if err := a.cache.Flush(); err != nil { // the snapshot on disk: deltas are appended on the apply path
					b.Fatal(err)
				}
			}
			rev := int64(1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rev++
				u := &edgeplanev1.ConfigUpdate{Revision: rev, BaseRevision: rev - 1,
					Routes: []*edgeplanev1.Route{route("r000000", fmt.Sprintf("v%d.example.com", i), "http://127.0.0.1:9")}}
				if _, err := ap.Apply(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
