package telemetry_test

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// budgetPerRecord is the most Redis memory one retained request record may cost, its
// index included (issue 17).
const budgetPerRecord = 300

func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// sampleRecord is a realistic request record: what an agent publishes for a proxied GET.
func sampleRecord(rng *rand.Rand, i int) requestlog.Record {
	return requestlog.Record{
		TraceID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SpanID: fmt.Sprintf("%016x", rng.Uint64()),
		Node: "edge-1", Host: "app.example.com", Method: "GET", Path: "/api/items/" + strconv.Itoa(i%50),
		Status: 200, Duration: time.Duration(200+rng.IntN(3000)) * time.Microsecond, BytesOut: int64(100 + rng.IntN(5000)),
		Client: fmt.Sprintf("10.0.%d.%d:%d", i%256, i%200, 1024+rng.IntN(60000)), Route: "app",
		Upstream: "http://10.0.0.5:8080", Revision: 42,
	}
}

// writeIndexed appends n request records to stream and indexes them as the metrics
// consumer does, returning their trace ids.
func writeIndexed(t testing.TB, rdb *redis.Client, x telemetry.Index, stream string, n int) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	traces := make([]string, 0, n)
	for done := 0; done < n; {
		batch := min(1000, n-done)
		recs := make([]requestlog.Record, batch)
		for i := range batch {
			recs[i] = sampleRecord(rng, done+i)
		}
		// Blocks of 100 records, as an agent under load publishes them.
		pipe := rdb.Pipeline()
		var adds []*redis.StringCmd
		for i := 0; i < batch; i += 100 {
			block := requestlog.AppendBlock(nil, recs[i:min(batch, i+100)])
			adds = append(adds, pipe.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{requestlog.BlockField, string(block)}}))
		}
		if _, err := pipe.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		idx := rdb.Pipeline()
		traceIDs, refs := make([]string, batch), make([]requestlog.Ref, batch)
		for i := range batch {
			refs[i], _ = requestlog.EntryRef(adds[i/100].Val(), i%100)
			traceIDs[i] = recs[i].TraceID
			traces = append(traces, recs[i].TraceID)
		}
		x.AddRefs(t.Context(), idx, stream, traceIDs, refs)
		if _, err := idx.Exec(t.Context()); err != nil {
			t.Fatal(err)
		}
		done += batch
	}
	return traces
}

func usedMemory(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	info, err := rdb.Info(t.Context(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatal("no used_memory in INFO")
	return 0
}

func TestIndex_RecordWithIndexFitsTheBudgetAndEveryTraceIsFound(t *testing.T) {
	rdb := newRedis(t)
	streams := telemetry.StreamNames("")
	x := telemetry.Index{Retention: time.Hour}
	const n = 50000
	before := usedMemory(t, rdb)
	traces := writeIndexed(t, rdb, x, streams.Requests, n)
	perRecord := (usedMemory(t, rdb) - before) / n
	streamOnly, err := rdb.MemoryUsage(t.Context(), streams.Requests, 0).Result()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records: %d bytes each with the index, the stream alone %d", n, perRecord, streamOnly/n)
	if perRecord > budgetPerRecord {
		t.Errorf("got %d bytes per record, want at most %d", perRecord, budgetPerRecord)
	}
	// The records may straddle a bucket boundary (the test runs at any time of the minute).
	keys, _ := rdb.Keys(t.Context(), "*").Result()
	perBucket := map[string]int{}
	for _, k := range keys {
		if k == streams.Requests {
			continue
		}
		parts := strings.Split(k, ":")
		perBucket[parts[len(parts)-2]]++
	}
	if len(perBucket) > 2 {
		t.Errorf("got index strings in %d buckets, want at most 2 for records written within seconds", len(perBucket))
	}
	for b, n := range perBucket {
		if n > 256 {
			t.Errorf("bucket %s: got %d index strings, want at most 256", b, n)
		}
	}

	r := &telemetry.Reader{Client: rdb, Streams: streams, Index: x}
	for _, i := range []int{0, 1, n / 2, n - 1} {
		got, err := r.Trace(t.Context(), traces[i])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Fields["trace_id"] != traces[i] || got[0].Stream != streams.Requests {
			t.Errorf("trace %d: got %+v, want its one request record", i, got)
		}
	}
	if got, err := r.Trace(t.Context(), strings.Repeat("ab", 16)); err != nil || len(got) != 0 {
		t.Errorf("unknown trace: got %v, %v; want nothing", got, err)
	}
}

func BenchmarkIndex_Lookup(b *testing.B) {
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rdb.Close() })
	streams := telemetry.StreamNames("")
	x := telemetry.Index{Retention: time.Hour}
	traces := writeIndexed(b, rdb, x, streams.Requests, 200000)
	r := &telemetry.Reader{Client: rdb, Streams: streams, Index: x}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got, err := r.Trace(b.Context(), traces[i%len(traces)])
		if err != nil || len(got) != 1 {
			b.Fatalf("got %d entries, %v", len(got), err)
		}
	}
}

// The design choice, measured: the same records indexed by a hash per minute (trace id ->
// stream id, the obvious alternative) cost more than the postings strings.
func TestIndex_PostingsCostLessThanAHashPerMinute(t *testing.T) {
	const n = 50000
	cost := func(index func(rdb *redis.Client, stream string, n int)) int64 {
		rdb := newRedis(t)
		before := usedMemory(t, rdb)
		index(rdb, "logs:request:stream", n)
		return (usedMemory(t, rdb) - before) / n
	}
	postings := cost(func(rdb *redis.Client, stream string, n int) {
		writeIndexed(t, rdb, telemetry.Index{Retention: time.Hour}, stream, n)
	})
	hash := cost(func(rdb *redis.Client, stream string, n int) {
		rng := rand.New(rand.NewPCG(1, 2))
		for done := 0; done < n; done += 1000 {
			pipe := rdb.Pipeline()
			traces, adds := make([]string, 1000), make([]*redis.StringCmd, 1000)
			for i := range 1000 {
				r := sampleRecord(rng, done+i)
				traces[i], adds[i] = r.TraceID, pipe.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: r.Values()})
			}
			if _, err := pipe.Exec(t.Context()); err != nil {
				t.Fatal(err)
			}
			for i := range 1000 {
				pipe.HSet(t.Context(), "{"+stream+"}:byminute:0", traces[i], adds[i].Val())
			}
			if _, err := pipe.Exec(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Logf("bytes per record with its index: postings %d, hash per minute %d", postings, hash)
	if postings >= hash {
		t.Errorf("postings cost %d bytes per record, a hash per minute %d: the choice is wrong", postings, hash)
	}
}
