package telemetry_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/keyspace"
)

// fillAt adds 100 records per minute over the minutes starting at from, explicit ids, and
// indexes them through the search handler in batches of 10.
func fillAt(t *testing.T, rdb *redis.Client, s *telemetry.SearchIndex, stream string, from time.Time, minutes int) {
	t.Helper()
	ctx := t.Context()
	_ = rdb.XGroupCreateMkStream(ctx, stream, keyspace.GroupSearch, "0").Err()
	for m := range minutes {
		base := from.Add(time.Duration(m) * time.Minute).UnixMilli()
		for i := range 100 {
			r := searchRecord(i)
			id := strconv.FormatInt(base+int64(i)*100, 10) + "-0"
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: id, Values: r.Values()}).Err(); err != nil {
				t.Fatal(err)
			}
		}
		for range 10 { // batches of 10: APPEND grows the strings as in production
			res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: keyspace.GroupSearch, Consumer: "t", Streams: []string{stream, ">"}, Count: 10, Block: -1}).Result()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Handle(ctx, stream, keyspace.GroupSearch, res[0].Messages); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// searchKeys returns stream's search index keys by bucket start.
func searchKeys(t *testing.T, rdb *redis.Client, stream string) map[int64][]string {
	t.Helper()
	out := map[int64][]string{}
	iter := rdb.Scan(t.Context(), 0, keyspace.SearchPrefix(stream)+"*", 1000).Iterator()
	for iter.Next(t.Context()) {
		rest := strings.TrimPrefix(iter.Val(), keyspace.SearchPrefix(stream))
		start, _ := strconv.ParseInt(rest[:strings.IndexByte(rest, ':')], 10, 64)
		out[start] = append(out[start], iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSearchIndex_CompactsClosedBucketsKeepingExpiryAndResults(t *testing.T) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	now, _ := rdb.Time(t.Context()).Result()
	from := now.Add(-10 * time.Minute).Truncate(time.Minute)
	fillAt(t, rdb, s, stream, from, 4)
	keys := searchKeys(t, rdb, stream)
	if len(keys) != 4 {
		t.Fatalf("got %d buckets, want 4", len(keys))
	}
	// The first two buckets are two behind the newest: compacted, the others not yet.
	slack := map[bool][]int64{}
	for start, ks := range keys {
		var over int64
		for _, k := range ks {
			if ttl := rdb.PTTL(t.Context(), k).Val(); ttl <= 0 {
				t.Errorf("%s: got TTL %v, want one (bucket end + retention)", k, ttl)
			}
			over += rdb.MemoryUsage(t.Context(), k, 0).Val() - rdb.StrLen(t.Context(), k).Val()
		}
		closed := start+2*time.Minute.Milliseconds() <= from.Add(3*time.Minute).UnixMilli()
		slack[closed] = append(slack[closed], over)
	}
	if len(slack[true]) != 2 || len(slack[false]) != 2 {
		t.Fatalf("got buckets %v, want 2 compacted and 2 open", slack)
	}
	for _, c := range slack[true] {
		for _, o := range slack[false] {
			if c >= o {
				t.Errorf("memory over the postings: compacted bucket %d bytes, open one %d; want less once compacted", c, o)
			}
		}
	}
	t.Logf("memory over the postings per bucket: compacted %v, open %v", slack[true], slack[false])
	page, err := s.SearchRequests(t.Context(), stream, telemetry.RequestQuery{Host: "h1.test", From: from, To: now, Limit: 1000})
	if err != nil || page.Total != 4*33 || len(page.Entries) != 4*33 {
		t.Errorf("after compaction: got %d records, total %d, %v; want %d", len(page.Entries), page.Total, err, 4*33)
	}
}

func TestTrimmer_DeletesSearchBucketsOlderThanTheStream(t *testing.T) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	now, _ := rdb.Time(t.Context()).Result()
	from := now.Add(-10 * time.Minute).Truncate(time.Minute)
	fillAt(t, rdb, s, stream, from, 5)
	tr := &telemetry.Trimmer{Client: rdb, Streams: []string{stream}, Index: s.Index, MaxRecords: 1000,
		Limits:   map[string]telemetry.StreamLimit{stream: {MaxLen: 1000}},
		Searched: []string{stream}, Search: s.Index}
	// MAXLEN ~ 1000 keeps whole nodes: trim exactly so the first two minutes go.
	if err := rdb.XTrimMinID(t.Context(), stream, strconv.FormatInt(from.Add(2*time.Minute).UnixMilli(), 10)).Err(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Trim(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys := searchKeys(t, rdb, stream)
	for start := range keys {
		if start < from.Add(2*time.Minute).UnixMilli() {
			t.Errorf("bucket %d: still has %d keys, want none (older than the stream's first entry)", start, len(keys[start]))
		}
	}
	if len(keys) != 3 {
		t.Errorf("got %d buckets, want the 3 the stream still holds", len(keys))
	}
}
