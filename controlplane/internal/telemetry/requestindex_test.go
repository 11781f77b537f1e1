package telemetry_test

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// The metrics consumer's one pass (metrics.Config.Postings with a RequestIndex) counts every
// record once, of text and compressed blocks alike, and makes it findable once by trace and
// by search, also when a consumer presumed dead handled part of the batch already (its
// postings are then appended twice) and when Redis lost its scripts in between (NOSCRIPT:
// the script is sent again). Every postings string it creates expires.
func TestRequestIndex_OnePassCountsAndIndexesEveryRecordOnceUnderRedelivery(t *testing.T) {
	rdb := newRedis(t)
	ctx := t.Context()
	stream := telemetry.StreamNames("").Requests
	x := telemetry.Index{Retention: time.Hour}
	search := &telemetry.SearchIndex{Client: rdb, Index: x}
	ri := &telemetry.RequestIndex{Trace: x, Search: search}
	p := metrics.New(metrics.Config{Client: rdb, Postings: func(s string) metrics.Postings { return ri.Postings(s) }})

	rng := rand.New(rand.NewPCG(5, 6))
	var traces []string
	for b := range 6 {
		recs := make([]requestlog.Record, 40)
		for i := range recs {
			recs[i] = sampleRecord(rng, b*40+i)
			traces = append(traces, recs[i].TraceID)
		}
		block := string(requestlog.AppendBlock(nil, recs)) + "\n1\tbroken" // a record that does not parse: skipped
		values := []any{requestlog.BlockField, block}
		if b%2 == 1 { // compressed, as agents send them to a control plane that reads them
			values = []any{requestlog.ZBlockField, string(requestlog.AppendZBlock(nil, []byte(block)))}
		}
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, Values: values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	if err := rdb.XGroupCreate(ctx, stream, keyspace.GroupMetrics, "0").Err(); err != nil {
		t.Fatal(err)
	}
	res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: keyspace.GroupMetrics, Consumer: "slow", Streams: []string{stream, ">"}, Count: 100}).Result()
	if err != nil {
		t.Fatal(err)
	}
	claimed, _, err := rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: stream, Group: keyspace.GroupMetrics, Consumer: "fast", Start: "0", Count: 100}).Result()
	if err != nil || len(claimed) != 6 {
		t.Fatalf("claim: got %d %v", len(claimed), err)
	}
	for i, batch := range [][]redis.XMessage{claimed[1:4], res[0].Messages} {
		if i == 1 {
			if err := rdb.ScriptFlush(ctx).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if dead, err := p.Handle(ctx, stream, keyspace.GroupMetrics, batch); err != nil || len(dead) != 0 {
			t.Fatalf("Handle: got dead %v, %v; want none", dead, err)
		}
	}

	got, err := p.Query(ctx, stream, "app.example.com", start.Add(-time.Minute), time.Now().Add(time.Minute))
	if err != nil || len(got) != 1 || got[0].Requests != 240 {
		t.Fatalf("metrics: got %+v, %v; want one series of 240 requests", got, err)
	}
	r := &telemetry.Reader{Client: rdb, Streams: telemetry.StreamNames(""), Index: x}
	for _, id := range traces {
		es, err := r.Trace(ctx, id)
		if err != nil || len(es) != 1 || es[0].Fields["trace_id"] != id {
			t.Fatalf("trace %s: got %d entries %v, %v; want its one record", id, len(es), es, err)
		}
	}
	page, err := search.SearchRequests(ctx, stream, telemetry.RequestQuery{Host: "app.example.com",
		From: start.Add(-time.Minute), To: time.Now().Add(time.Minute), Limit: 1000})
	if err != nil || page.Total != 240 || !page.Exact || len(page.Entries) != 240 {
		t.Fatalf("search: got total %d (exact %v), %d entries, %v; want 240 exactly", page.Total, page.Exact, len(page.Entries), err)
	}
	var seen []string
	for _, e := range page.Entries {
		seen = append(seen, e.Fields["trace_id"])
	}
	slices.Sort(seen)
	want := slices.Clone(traces)
	slices.Sort(want)
	if !slices.Equal(seen, want) {
		t.Errorf("search: the entries are not the 240 records once each")
	}

	for _, prefix := range []string{keyspace.TraceIndexPrefix(stream), keyspace.SearchPrefix(stream)} {
		keys, err := rdb.Keys(ctx, prefix+"*").Result()
		if err != nil || len(keys) == 0 {
			t.Fatalf("%s*: got %d keys, %v", prefix, len(keys), err)
		}
		for _, k := range keys {
			ttl, err := rdb.PTTL(ctx, k).Result()
			if err != nil || ttl <= 0 || ttl > time.Hour+2*time.Minute {
				t.Errorf("%s: expires in %s (%v); want within the retention and a bucket", k, ttl, err)
			}
		}
	}
	if n, _ := rdb.XPending(ctx, stream, keyspace.GroupMetrics).Result(); n.Count != 0 {
		t.Errorf("pending: got %d, want every block acknowledged", n.Count)
	}
}
