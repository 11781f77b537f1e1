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
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// benchRecord is record i of a realistic mix: 20 hosts (the first has 40% of the traffic),
// 97% 2xx/3xx, 2% 4xx, 1% 5xx, 50,000 client IPs, paths under /api, /static, /img, /auth,
// latencies mostly a few ms with a long tail.
func benchRecord(rng *rand.Rand, i int) requestlog.Record {
	host := "app.example.com"
	if rng.IntN(10) >= 4 {
		host = fmt.Sprintf("svc%d.example.com", rng.IntN(19))
	}
	status := 200
	switch p := rng.IntN(100); {
	case p == 0:
		status = []int{500, 502, 503, 504}[rng.IntN(4)]
	case p < 3:
		status = []int{400, 401, 404, 429}[rng.IntN(4)]
	case p < 8:
		status = 304
	}
	segs := []string{"/api/items/", "/static/js/", "/img/", "/auth/login", "/api/users/"}
	lat := time.Duration(rng.ExpFloat64()*3000) * time.Microsecond
	if rng.IntN(100) == 0 {
		lat = time.Duration(100+rng.IntN(2000)) * time.Millisecond
	}
	return requestlog.Record{
		TraceID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SpanID: fmt.Sprintf("%016x", rng.Uint64()),
		Node: "edge-1", Host: host, Method: "GET", Path: segs[i%len(segs)] + strconv.Itoa(rng.IntN(1000)),
		Status: status, Duration: lat, BytesOut: int64(100 + rng.IntN(5000)),
		Client: fmt.Sprintf("10.%d.%d.%d:%d", rng.IntN(2), rng.IntN(100), rng.IntN(250), 1024+rng.IntN(60000)),
		Route:  strings.SplitN(host, ".", 2)[0], Upstream: "http://10.0.0.5:8080", Revision: 42,
	}
}

// fillBench writes n benchRecords spread evenly over the last hour (explicit ids, pipelined
// XADDs of the records as agents encode them), then indexes them through the search
// consumer group's handler and the trace index, as the control plane does. It returns the
// Redis memory of the stream alone and of everything.
func fillBench(b *testing.B, rdb *redis.Client, s *telemetry.SearchIndex, stream string, n int) (streamBytes, searchBytes, traceBytes int64) {
	ctx := b.Context()
	used := func() int64 {
		info, _ := rdb.Info(ctx, "memory").Result()
		for _, line := range strings.Split(info, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				n, _ := strconv.ParseInt(v, 10, 64)
				return n
			}
		}
		b.Fatal("no used_memory in INFO")
		return 0
	}
	base := used()
	now, _ := rdb.Time(ctx).Result()
	start := now.Add(-time.Hour).UnixMilli()
	rng := rand.New(rand.NewPCG(7, 8))
	traces := map[string]string{}
	for done := 0; done < n; {
		pipe := rdb.Pipeline()
		for i := done; i < min(n, done+5000); i++ {
			r := benchRecord(rng, i)
			id := strconv.FormatInt(start+int64(i)*3_600_000/int64(n), 10) + "-" + strconv.Itoa(i%4)
			traces[id] = r.TraceID
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: id, Values: r.Values()})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		done = min(n, done+5000)
	}
	afterStream := used()
	if err := rdb.XGroupCreate(ctx, stream, keyspace.GroupSearch, "0").Err(); err != nil {
		b.Fatal(err)
	}
	var batches [][]redis.XMessage
	for {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: keyspace.GroupSearch, Consumer: "b", Streams: []string{stream, ">"}, Count: 2000, Block: -1}).Result()
		if err == redis.Nil || err == nil && len(res[0].Messages) == 0 {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Handle(ctx, stream, keyspace.GroupSearch, res[0].Messages); err != nil {
			b.Fatal(err)
		}
		batches = append(batches, res[0].Messages)
	}
	afterSearch := used()
	for _, msgs := range batches {
		pipe := rdb.Pipeline()
		var ts, ids []string
		for _, m := range msgs {
			ts, ids = append(ts, traces[m.ID]), append(ids, m.ID)
		}
		s.Index.Add(ctx, pipe, stream, ts, ids)
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
	return afterStream - base, afterSearch - afterStream, used() - afterSearch
}

// BenchmarkQueryLogs searches the last 1,000,000 request records (one hour, 1-minute
// buckets) for typical queries, 100 records a page, counting the whole hour.
func BenchmarkQueryLogs(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	b.Cleanup(func() { rdb.Close() })
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	st, se, tr := fillBench(b, rdb, s, stream, n)
	b.Logf("%d records: stream %d B/record, search index %d B/record, trace index %d B/record (used_memory deltas)",
		n, st/int64(n), se/int64(n), tr/int64(n))
	now := time.Now()
	cases := []struct {
		name string
		q    telemetry.RequestQuery
	}{
		{"host+5xx", telemetry.RequestQuery{Host: "app.example.com", StatusClass: 5}},
		{"host+2xx", telemetry.RequestQuery{Host: "app.example.com", StatusClass: 2}},
		{"client-ip", telemetry.RequestQuery{ClientIP: "10.1.42.7"}},
		{"path-prefix+min-latency", telemetry.RequestQuery{PathPrefix: "/api/users/", MinLatency: 250 * time.Millisecond}},
		{"status-404", telemetry.RequestQuery{Status: 404}},
		{"method-only-scan", telemetry.RequestQuery{Method: "POST"}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			q := c.q
			q.From, q.To, q.Limit = now.Add(-time.Hour), now.Add(time.Second), 100
			var page telemetry.RequestPage
			for b.Loop() {
				var err error
				if page, err = s.SearchRequests(b.Context(), stream, q); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(page.Total), "matches")
			b.ReportMetric(float64(page.Examined), "examined")
			b.ReportMetric(float64(len(page.Entries)), "returned")
		})
	}
}

// BenchmarkSearchIndex_HandleBlocks: the search group's handler on blocks of 100 realistic
// records; ns/op and allocs/op are per record (the handler's side only).
func BenchmarkSearchIndex_HandleBlocks(b *testing.B) {
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	rng := rand.New(rand.NewPCG(1, 2))
	recs := make([]requestlog.Record, 100)
	for i := range recs {
		recs[i] = benchRecord(rng, i)
	}
	block := string(requestlog.AppendBlock(nil, recs))
	ctx := b.Context()
	_ = rdb.XGroupCreateMkStream(ctx, stream, "g", "$").Err()
	const entries = 20
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += entries * len(recs) {
		b.StopTimer()
		pipe := rdb.Pipeline()
		for range entries {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: []any{requestlog.BlockField, block}})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: entries}).Result()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := s.Handle(ctx, stream, "g", res[0].Messages); err != nil {
			b.Fatal(err)
		}
	}
}
