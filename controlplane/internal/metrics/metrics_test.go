package metrics_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

var stream = keyspace.DefaultRequestStream

// publish writes n records, alternately in the compact form agents write now and in the
// field-per-value form older agents wrote: both are counted.
func publish(t *testing.T, rdb redis.UniversalClient, n, status int, host string, d time.Duration) {
	t.Helper()
	pipe := rdb.Pipeline()
	for i := range n {
		r := requestlog.Record{Host: host, Method: "GET", Path: "/", Status: status, Duration: d, BytesIn: 1, BytesOut: 10, Route: "web", Revision: 1}
		values := r.Values()
		if i%2 == 0 {
			c := requestlog.Compact{Host: host, Method: "GET", Path: "/", Status: status, Duration: d, BytesIn: 1, BytesOut: 10, Route: "web", Revision: 1}
			values = []any{requestlog.Field, string(c.Append(nil))}
		}
		pipe.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: values})
	}
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestProcessor_ExactCountsClassesAndPercentiles(t *testing.T) {
	rdb := redistest.New(t).Client()
	p := metrics.New(metrics.Config{Client: rdb})
	start := time.Now()
	publish(t, rdb, 900, 200, "a.test", 10*time.Millisecond)
	publish(t, rdb, 90, 404, "a.test", 20*time.Millisecond)
	publish(t, rdb, 10, 502, "a.test", 500*time.Millisecond)
	publish(t, rdb, 5, 200, "b.test", time.Millisecond)
	rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: []any{"junk", "1"}})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	c := streams.New(streams.Config{Client: rdb, Stream: stream, Group: "metrics", Name: "m1", Handler: p, Batch: 64, Block: 20 * time.Millisecond})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	var got []metrics.Summary
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		got, err = p.Query(t.Context(), stream, "a.test", start.Add(-time.Minute), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 1 && got[0].Requests == 1000 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %+v, want 1000 requests for a.test", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s := got[0]
	if s.StatusClasses["2xx"] != 900 || s.StatusClasses["4xx"] != 90 || s.StatusClasses["5xx"] != 10 {
		t.Errorf("status classes: got %v, want 900/90/10", s.StatusClasses)
	}
	if s.ErrorRate != 0.01 || s.BytesIn != 1000 || s.BytesOut != 10000 {
		t.Errorf("got error rate %v bytes %d/%d, want 0.01 1000/10000", s.ErrorRate, s.BytesIn, s.BytesOut)
	}
	within := func(got, want time.Duration) bool { return got >= want && got <= want+want/10 }
	if !within(s.P50, 10*time.Millisecond) || !within(s.P95, 20*time.Millisecond) || !within(s.P99, 20*time.Millisecond) {
		t.Errorf("percentiles: got p50 %s p95 %s p99 %s, want ~10ms, ~20ms, ~20ms (within one 9%% bucket above)", s.P50, s.P95, s.P99)
	}
	all, _ := p.Query(t.Context(), stream, "", start.Add(-time.Minute), time.Now().Add(time.Minute))
	if len(all) != 2 || all[1].Host != "b.test" || all[1].Requests != 5 {
		t.Errorf("all hosts: got %+v, want a.test and b.test with 5", all)
	}
	if n, _ := rdb.XLen(t.Context(), keyspace.DeadLetter(stream)).Result(); n != 1 {
		t.Errorf("dead letters: got %d, want the malformed entry", n)
	}
}

// The same entries handled twice (a consumer presumed dead finishing after its work was
// claimed) are counted once.
func TestProcessor_RedeliveryIsCountedOnce(t *testing.T) {
	rdb := redistest.New(t).Client()
	p := metrics.New(metrics.Config{Client: rdb})
	start := time.Now()
	publish(t, rdb, 20, 200, "a.test", time.Millisecond)
	if err := rdb.XGroupCreate(t.Context(), stream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "g", Consumer: "slow", Streams: []string{stream, ">"}, Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs := res[0].Messages
	claimed, _, err := rdb.XAutoClaim(t.Context(), &redis.XAutoClaimArgs{Stream: stream, Group: "g", Consumer: "fast", Start: "0", Count: 100}).Result()
	if err != nil || len(claimed) != 20 {
		t.Fatalf("claim: got %d %v", len(claimed), err)
	}
	for _, batch := range [][]redis.XMessage{claimed, msgs} {
		if _, err := p.Handle(t.Context(), stream, "g", batch); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := p.Query(t.Context(), stream, "a.test", start.Add(-time.Minute), time.Now().Add(time.Minute))
	if len(got) != 1 || got[0].Requests != 20 {
		t.Errorf("got %+v, want 20 requests counted once", got)
	}
}

func BenchmarkProcessor(b *testing.B) {
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	p := metrics.New(metrics.Config{Client: rdb})
	ctx := context.Background()
	_ = rdb.XGroupCreateMkStream(ctx, stream, "g", "$").Err()
	rec := requestlog.Record{Host: "a.test", Method: "GET", Path: "/", Status: 200, Duration: time.Millisecond, Route: "web"}
	const batch = 500
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		b.StopTimer()
		pipe := rdb.Pipeline()
		for range batch {
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: rec.Values()})
		}
		if _, err := pipe.Exec(ctx); err != nil {
			b.Fatal(err)
		}
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: batch}).Result()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := p.Handle(ctx, stream, "g", res[0].Messages); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// A client picks the Host of an unmatched request: past MaxSeries series in a window,
// further hosts are counted as "(other)", so the counters stay bounded and the total exact.
func TestProcessor_SeriesPerWindowAreCapped(t *testing.T) {
	rdb := redistest.New(t).Client()
	p := metrics.New(metrics.Config{Client: rdb, MaxSeries: 2, Window: time.Hour})
	start := time.Now()
	for _, host := range []string{"a.test", "b.test", "c.test", "d.test"} {
		publish(t, rdb, 3, 200, host, time.Millisecond)
	}
	if err := rdb.XGroupCreate(t.Context(), stream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Handle(t.Context(), stream, "g", res[0].Messages); err != nil {
		t.Fatal(err)
	}
	got, err := p.Query(t.Context(), stream, "", start.Add(-time.Hour), time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"a.test": 3, "b.test": 3, "(other)": 6}
	if len(got) != len(want) {
		t.Fatalf("got %d series %+v, want %v", len(got), got, want)
	}
	for _, s := range got {
		if want[s.Host] != s.Requests {
			t.Errorf("%s: got %d requests, want %d", s.Host, s.Requests, want[s.Host])
		}
	}
}

// A batch of which only some entries were already counted elsewhere adds exactly the rest:
// the counts of the others are taken back out of the batch's sums, classes, latency
// buckets and bytes included.
func TestProcessor_PartlyCountedBatchAddsOnlyTheRest(t *testing.T) {
	rdb := redistest.New(t).Client()
	p := metrics.New(metrics.Config{Client: rdb})
	start := time.Now()
	publish(t, rdb, 10, 200, "a.test", time.Millisecond)
	publish(t, rdb, 10, 503, "a.test", 300*time.Millisecond)
	if err := rdb.XGroupCreate(t.Context(), stream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "g", Consumer: "slow", Streams: []string{stream, ">"}, Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	msgs := res[0].Messages
	claimed, _, err := rdb.XAutoClaim(t.Context(), &redis.XAutoClaimArgs{Stream: stream, Group: "g", Consumer: "fast", Start: "0", Count: 100}).Result()
	if err != nil || len(claimed) != 20 {
		t.Fatalf("claim: got %d %v", len(claimed), err)
	}
	// The claimer counts entries 5..14 (some 200s, some 503s); the slow consumer then
	// handles all 20.
	for _, batch := range [][]redis.XMessage{claimed[5:15], msgs} {
		if _, err := p.Handle(t.Context(), stream, "g", batch); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := p.Query(t.Context(), stream, "a.test", start.Add(-time.Minute), time.Now().Add(time.Minute))
	if len(got) != 1 {
		t.Fatalf("got %+v, want one series", got)
	}
	s := got[0]
	if s.Requests != 20 || s.StatusClasses["2xx"] != 10 || s.StatusClasses["5xx"] != 10 || s.BytesIn != 20 || s.BytesOut != 200 {
		t.Errorf("got %d requests, classes %v, bytes %d/%d; want 20, 10 2xx and 10 5xx, 20/200", s.Requests, s.StatusClasses, s.BytesIn, s.BytesOut)
	}
	if want := (10*time.Millisecond + 3000*time.Millisecond) / 20; s.MeanDuration != want {
		t.Errorf("mean duration: got %s, want %s", s.MeanDuration, want)
	}
	if s.P50 < time.Millisecond || s.P50 > 1100*time.Microsecond || s.P99 < 300*time.Millisecond || s.P99 > 330*time.Millisecond {
		t.Errorf("percentiles: got p50 %s p99 %s, want ~1ms and ~300ms", s.P50, s.P99)
	}
}

// publishBlocks writes n blocks (as agents publish), each with 3 records of a.test (200,
// 1ms), 2 of b.test (503, 300ms) and one record that does not parse (skipped).
func publishBlocks(t *testing.T, rdb redis.UniversalClient, n int) {
	t.Helper()
	var recs []requestlog.Record
	for i := range 5 {
		r := requestlog.Record{Host: "a.test", Method: "GET", Path: "/", Status: 200, Duration: time.Millisecond, BytesIn: 1, BytesOut: 10, Route: "web"}
		if i >= 3 {
			r.Host, r.Status, r.Duration = "b.test", 503, 300*time.Millisecond
		}
		recs = append(recs, r)
	}
	block := requestlog.AppendBlock(nil, recs)
	block = append(block, "\n1\tbroken"...)
	for i := range n {
		// Every other block compressed, as agents send them to a control plane that reads
		// compressed blocks.
		values := []any{requestlog.BlockField, string(block)}
		if i%2 == 1 {
			values = []any{requestlog.ZBlockField, string(requestlog.AppendZBlock(nil, block))}
		}
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// A compressed block that does not decompress (a damaged or hostile entry), and a block
// longer than requestlog.MaxZBlockText, plain or decoded, count nothing and are handed back
// for dead-lettering like an entry of malformed records; the blocks around them are counted
// and acknowledged.
func TestProcessor_MalformedOrOversizedBlockCountsNothing(t *testing.T) {
	rdb := redistest.New(t).Client()
	p := metrics.New(metrics.Config{Client: rdb})
	start := time.Now()
	publishBlocks(t, rdb, 1)
	// A plain block of good a.test records, but longer than any agent packs.
	line := requestlog.AppendBlock(nil, []requestlog.Record{{Host: "a.test", Method: "GET", Path: "/", Status: 200, Route: "web"}})
	huge := strings.Repeat(string(line)+"\n", requestlog.MaxZBlockText/(len(line)+1)+1)
	for _, v := range [][]any{
		{requestlog.ZBlockField, "not s2 at all"},
		{requestlog.ZBlockField, "\xff\xff\xff\xff\x0f"}, // a length over MaxZBlockText
		{requestlog.BlockField, huge},
	} {
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	publishBlocks(t, rdb, 2)
	if err := rdb.XGroupCreate(t.Context(), stream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "g", Consumer: "c", Streams: []string{stream, ">"}, Count: 100}).Result()
	if err != nil || len(res[0].Messages) != 6 {
		t.Fatalf("read: got %d entries, %v; want 6", len(res[0].Messages), err)
	}
	msgs := res[0].Messages
	dead, err := p.Handle(t.Context(), stream, "g", msgs)
	if err != nil || !slices.Equal(dead, []string{msgs[1].ID, msgs[2].ID, msgs[3].ID}) {
		t.Fatalf("Handle: got dead %v, %v; want the three malformed entries %s %s %s", dead, err, msgs[1].ID, msgs[2].ID, msgs[3].ID)
	}
	got, _ := p.Query(t.Context(), stream, "a.test", start.Add(-time.Minute), time.Now().Add(time.Minute))
	if len(got) != 1 || got[0].Requests != 9 { // 3 blocks of 3 a.test records
		t.Errorf("a.test: got %+v, want one series of 9 requests", got)
	}
	if n, _ := rdb.XPending(t.Context(), stream, "g").Result(); n.Count != 3 {
		t.Errorf("pending: got %d, want only the 3 dead entries (left to the consumer's dead-lettering)", n.Count)
	}
}

// Blocks of records of several series are counted exactly once per record, also when a
// consumer presumed dead counted some blocks of a batch already.
func TestProcessor_BlocksAreCountedOncePerRecordUnderRedelivery(t *testing.T) {
	rdb := redistest.New(t).Client()
	p := metrics.New(metrics.Config{Client: rdb})
	start := time.Now()
	publishBlocks(t, rdb, 6)
	if err := rdb.XGroupCreate(t.Context(), stream, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(t.Context(), &redis.XReadGroupArgs{Group: "g", Consumer: "slow", Streams: []string{stream, ">"}, Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	claimed, _, err := rdb.XAutoClaim(t.Context(), &redis.XAutoClaimArgs{Stream: stream, Group: "g", Consumer: "fast", Start: "0", Count: 100}).Result()
	if err != nil || len(claimed) != 6 {
		t.Fatalf("claim: got %d %v", len(claimed), err)
	}
	for _, batch := range [][]redis.XMessage{claimed[1:4], res[0].Messages} {
		if dead, err := p.Handle(t.Context(), stream, "g", batch); err != nil || len(dead) != 0 {
			t.Fatalf("Handle: got dead %v, %v; want none", dead, err)
		}
	}
	for host, want := range map[string]struct {
		requests, class int64
		p99             time.Duration
	}{"a.test": {18, 18, time.Millisecond}, "b.test": {12, 12, 300 * time.Millisecond}} {
		got, _ := p.Query(t.Context(), stream, host, start.Add(-time.Minute), time.Now().Add(time.Minute))
		if len(got) != 1 {
			t.Fatalf("%s: got %+v, want one series", host, got)
		}
		s := got[0]
		class := s.StatusClasses["2xx"] + s.StatusClasses["5xx"]
		if s.Requests != want.requests || class != want.class || s.BytesIn != want.requests || s.P99 < want.p99 || s.P99 > want.p99*11/10 {
			t.Errorf("%s: got %d requests, classes %v, bytes in %d, p99 %s; want %d, %d, %d, ~%s",
				host, s.Requests, s.StatusClasses, s.BytesIn, s.P99, want.requests, want.class, want.requests, want.p99)
		}
	}
	if n, _ := rdb.XPending(t.Context(), stream, "g").Result(); n.Count != 0 {
		t.Errorf("pending: got %d, want every block acknowledged", n.Count)
	}
}

// BenchmarkProcessor_Blocks: records as agents publish them, 100 to an entry; ns/op and
// allocs/op are per record, the consumer's side (Handle) only.
func BenchmarkProcessor_Blocks(b *testing.B) {
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	p := metrics.New(metrics.Config{Client: rdb})
	ctx := context.Background()
	_ = rdb.XGroupCreateMkStream(ctx, stream, "g", "$").Err()
	recs := make([]requestlog.Record, 100)
	for i := range recs {
		recs[i] = requestlog.Record{TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7", Node: "edge-1",
			Host: "a.test", Method: "GET", Path: "/", Status: 200 + i%2*300, Duration: time.Duration(i) * time.Millisecond,
			Client: "127.0.0.1:5000", Route: "web", Upstream: "http://127.0.0.1:9000", Revision: 1}
	}
	block := string(requestlog.AppendBlock(nil, recs))
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
		if _, err := p.Handle(ctx, stream, "g", res[0].Messages); err != nil {
			b.Fatal(err)
		}
	}
}
