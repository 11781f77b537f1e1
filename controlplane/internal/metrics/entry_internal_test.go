package metrics

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// BenchmarkBatch_Entries is the control plane's own work per request record, without
// Redis: a batch of 40 blocks of 256 records (200 ms of the peers run's load) read, counted
// and posted in the trace and search indexes, then the script's arguments built.
//
//	go test ./controlplane/internal/metrics -run '^$' -bench Batch_Entries -count 8
func BenchmarkBatch_Entries(b *testing.B) {
	const blocks, perBlock = 40, 256
	rng := rand.New(rand.NewPCG(1, 2))
	msgs := make([]map[string]any, blocks)
	ids := make([]string, blocks)
	ms := time.Now().UnixMilli()
	for i := range msgs {
		recs := make([]requestlog.Record, perBlock)
		for j := range recs {
			recs[j] = requestlog.Record{
				TraceID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SpanID: fmt.Sprintf("%016x", rng.Uint64()),
				Node: "bench-trace", Host: "bench.test", Method: "GET", Path: "/", Status: 200,
				Duration: time.Duration(100+rng.IntN(400)) * time.Microsecond, BytesOut: 12,
				Client: "127.0.0.1", Route: "bench", Upstream: "http://127.0.0.1:19500", Revision: 3,
			}
		}
		msgs[i] = map[string]any{requestlog.BlockField: string(requestlog.AppendBlock(nil, recs))}
		ids[i] = strconv.FormatInt(ms+int64(i*5), 10) + "-0"
	}
	index := telemetry.Index{Retention: time.Hour}
	x := &telemetry.RequestIndex{Trace: index, Search: &telemetry.SearchIndex{Index: index}}
	b.ReportAllocs()
	for b.Loop() {
		bt := &batch{stream: "s", keys: []string{"s"}, byKey: map[seriesKey]*series{}}
		post := x.Postings("s")
		for i, v := range msgs {
			ref, _ := requestlog.EntryRef(ids[i], 0)
			bt.entry(ms/10000, i+1, ref, v, post)
			bt.ids = append(bt.ids, ids[i])
		}
		args := bt.args("g", 3600, 1000)
		post.Strings(func(key string, postings []byte, expireAt int64) { args = append(args, key, postings, expireAt) })
		_ = post.Written(b.Context())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*blocks*perBlock), "ns/record")
}
