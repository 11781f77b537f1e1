package telemetry_test

import (
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/keyspace"
)

type benchGroup struct{ c *streams.Consumer }

// requestConsumers returns the request stream's consumers as app.buildTelemetry makes them
// (one group: counters, trace and search index in one pass), reading benchBatch entries at a
// time.
func requestConsumers(rdb, tail redis.UniversalClient, stream string) []benchGroup {
	index := telemetry.Index{Retention: time.Hour}
	x := &telemetry.RequestIndex{Trace: index, Search: &telemetry.SearchIndex{Client: rdb, Index: index}}
	m := metrics.New(metrics.Config{Client: rdb, Postings: func(s string) metrics.Postings { return x.Postings(s) }})
	return []benchGroup{
		{streams.New(streams.Config{Client: tail, Stream: stream, Group: keyspace.GroupMetrics, Name: "b", Handler: m, Batch: benchBatch(), Block: 20 * time.Millisecond})},
	}
}

// benchBatch is how many entries a read takes: 10 (a read every 200 ms at 12,000 records a
// second in blocks of 240), or $BENCH_BATCH.
func benchBatch() int64 { return int64(benchEnv("BENCH_BATCH", 10)) }
