package telemetry_test

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// searchRecords is a small, varied set of request records: record i has host h<i%3>.test,
// route r<i%2>, method GET (PUT every 5th), status 200/404/503 by i%3... (see below).
func searchRecord(i int) requestlog.Record {
	statuses := []int{200, 404, 503, 201}
	methods := []string{"GET", "GET", "POST", "GET", "PUT"}
	return requestlog.Record{
		TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1), Node: "edge-1",
		Host: fmt.Sprintf("h%d.test", i%3), Route: fmt.Sprintf("r%d", i%2), Method: methods[i%5],
		Path:   fmt.Sprintf("/p%d/item/%d?q=1", i%4, i),
		Status: statuses[i%4], Duration: time.Duration(i%7) * 20 * time.Millisecond,
		Client: fmt.Sprintf("10.0.0.%d:%d", i%10, 40000+i), Upstream: "http://10.0.0.5:8080", Revision: 1,
	}
}

// fillSearch adds n searchRecords to stream, in blocks of up to 7 as agents publish them,
// and runs them through the search consumer group's handler, as the control plane does; it
// returns the records by record id.
func fillSearch(t testing.TB, rdb *redis.Client, s *telemetry.SearchIndex, stream string, n int) map[string]requestlog.Record {
	t.Helper()
	return fillSearchWith(t, rdb, s, stream, n, searchRecord)
}

// runRecord is record i of a load whose records come in runs, as an agent's blocks mostly
// do: field values change every few records (host every 5, status every 4, ...), and for
// every 4th ten records the host alternates between two names whose postings share a
// shard (h0.test and sameShard), which must not join one run.
func runRecord(i int) requestlog.Record {
	statuses := []int{200, 404, 503, 201}
	hosts := []string{"h0.test", sameShard, "h2.test"}
	host := hosts[(i/5)%3]
	if i%40 >= 30 {
		host = hosts[i%2]
	}
	return requestlog.Record{
		TraceID: fmt.Sprintf("%032x", i+1), SpanID: fmt.Sprintf("%016x", i+1), Node: "edge-1",
		Host: host, Route: fmt.Sprintf("r%d", (i/3)%2), Method: "GET",
		Path:   fmt.Sprintf("/p%d/item/%d", (i/6)%4, i),
		Status: statuses[(i/4)%4], Duration: time.Duration((i/9)%7) * 20 * time.Millisecond,
		Client: fmt.Sprintf("10.0.0.%d:%d", (i/8)%10, 40000+i), Upstream: "http://10.0.0.5:8080", Revision: 1,
	}
}

// sameShard is a host whose postings go to h0.test's shard (64 shards by FNV-1a).
var sameShard = func() string {
	shard := func(s string) uint32 { h := fnv.New32a(); h.Write([]byte(s)); return h.Sum32() % 64 }
	for i := 3; ; i++ {
		if h := fmt.Sprintf("h%d.test", i); shard(h) == shard("h0.test") {
			return h
		}
	}
}()

// fillSearchWith is fillSearch with record i made by rec.
func fillSearchWith(t testing.TB, rdb *redis.Client, s *telemetry.SearchIndex, stream string, n int, rec func(int) requestlog.Record) map[string]requestlog.Record {
	t.Helper()
	ctx := t.Context()
	byID := map[string]requestlog.Record{}
	var traces []string
	var refs []requestlog.Ref
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	next := now.UnixMilli() - int64(n) // one block a millisecond, ending now
	for i := 0; i < n; {
		var recs []requestlog.Record
		for ; i < n && len(recs) < 1+i%7; i++ {
			recs = append(recs, rec(i))
		}
		next++
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: strconv.FormatInt(next, 10) + "-*",
			Values: []any{requestlog.BlockField, string(requestlog.AppendBlock(nil, recs))}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		for place, r := range recs {
			ref, _ := requestlog.EntryRef(id, place)
			byID[ref.ID()] = r
			traces, refs = append(traces, r.TraceID), append(refs, ref)
		}
	}
	if err := rdb.XGroupCreateMkStream(ctx, stream, keyspace.GroupSearch, "0").Err(); err != nil {
		t.Fatal(err)
	}
	// The trace index, as the metrics consumer writes it.
	pipe := rdb.Pipeline()
	s.Index.AddRefs(ctx, pipe, stream, traces, refs)
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		res, err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: keyspace.GroupSearch, Consumer: "t", Streams: []string{stream, ">"}, Count: 100, Block: -1}).Result()
		if err == redis.Nil || err == nil && len(res[0].Messages) == 0 {
			return byID
		}
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Handle(ctx, stream, keyspace.GroupSearch, res[0].Messages); err != nil {
			t.Fatal(err)
		}
	}
}

// want returns the ids of byID matching pred, newest first.
func want(byID map[string]requestlog.Record, pred func(requestlog.Record) bool) []string {
	var ids []string
	for id, r := range byID {
		if pred(r) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		if telemetryIDLess(a, b) {
			return 1
		}
		return -1
	})
	return ids
}

func telemetryIDLess(a, b string) bool {
	var am, as, bm, bs int64
	fmt.Sscanf(a, "%d-%d", &am, &as)
	fmt.Sscanf(b, "%d-%d", &bm, &bs)
	return am < bm || am == bm && as < bs
}

func ids(es []telemetry.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func TestSearchRequests_EveryFilterReturnsExactlyTheMatchesNewestFirst(t *testing.T) {
	everyFilter(t, searchRecord)
}

// With records in runs (postings of consecutive records stored as runs), including runs
// broken by another value of the same shard, searches find exactly the same records.
func TestSearchRequests_EveryFilterReturnsExactlyTheMatchesWithRecordsInRuns(t *testing.T) {
	everyFilter(t, runRecord)
}

func everyFilter(t *testing.T, rec func(int) requestlog.Record) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	byID := fillSearchWith(t, rdb, s, stream, 600, rec)
	now := time.Now()
	base := telemetry.RequestQuery{From: now.Add(-time.Hour), To: now.Add(time.Minute), Limit: 1000}
	cases := []struct {
		name      string
		mod       func(*telemetry.RequestQuery)
		pred      func(requestlog.Record) bool
		wantExact bool
	}{
		{"host", func(q *telemetry.RequestQuery) { q.Host = "h1.test" }, func(r requestlog.Record) bool { return r.Host == "h1.test" }, true},
		{"route", func(q *telemetry.RequestQuery) { q.Route = "r1" }, func(r requestlog.Record) bool { return r.Route == "r1" }, true},
		{"client ip", func(q *telemetry.RequestQuery) { q.ClientIP = "10.0.0.7" }, func(r requestlog.Record) bool { return telemetry.ClientIP(r.Client) == "10.0.0.7" }, true},
		{"status", func(q *telemetry.RequestQuery) { q.Status = 404 }, func(r requestlog.Record) bool { return r.Status == 404 }, true},
		{"status class", func(q *telemetry.RequestQuery) { q.StatusClass = 2 }, func(r requestlog.Record) bool { return r.Status/100 == 2 }, true},
		{"method (scan)", func(q *telemetry.RequestQuery) { q.Method = "PUT" }, func(r requestlog.Record) bool { return r.Method == "PUT" }, true},
		{"path prefix (indexed segment)", func(q *telemetry.RequestQuery) { q.PathPrefix = "/p2/item/1" }, func(r requestlog.Record) bool { return len(r.Path) >= 10 && r.Path[:10] == "/p2/item/1" }, false},
		{"path prefix (scan)", func(q *telemetry.RequestQuery) { q.PathPrefix = "/p3" }, func(r requestlog.Record) bool { return r.Path[:3] == "/p3" }, true},
		{"min latency on a bound", func(q *telemetry.RequestQuery) { q.MinLatency = 100 * time.Millisecond }, func(r requestlog.Record) bool { return r.Duration >= 100*time.Millisecond }, true},
		{"min latency between bounds", func(q *telemetry.RequestQuery) { q.MinLatency = 70 * time.Millisecond }, func(r requestlog.Record) bool { return r.Duration >= 70*time.Millisecond }, false},
		{"host + status class", func(q *telemetry.RequestQuery) { q.Host, q.StatusClass = "h2.test", 5 }, func(r requestlog.Record) bool { return r.Host == "h2.test" && r.Status >= 500 }, true},
		{"host sharing a shard", func(q *telemetry.RequestQuery) { q.Host = sameShard }, func(r requestlog.Record) bool { return r.Host == sameShard }, true},
		{"host sharing a shard + status", func(q *telemetry.RequestQuery) { q.Host, q.Status = "h0.test", 503 }, func(r requestlog.Record) bool { return r.Host == "h0.test" && r.Status == 503 }, true},
		{"trace id", func(q *telemetry.RequestQuery) { q.TraceID = fmt.Sprintf("%032x", 42) }, func(r requestlog.Record) bool { return r.TraceID == fmt.Sprintf("%032x", 42) }, true},
		{"host + method + path", func(q *telemetry.RequestQuery) { q.Host, q.Method, q.PathPrefix = "h0.test", "GET", "/p0/" }, func(r requestlog.Record) bool {
			return r.Host == "h0.test" && r.Method == "GET" && r.Path[:4] == "/p0/"
		}, false},
		{"no match", func(q *telemetry.RequestQuery) { q.Host = "nope.test" }, func(requestlog.Record) bool { return false }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := base
			c.mod(&q)
			page, err := s.SearchRequests(t.Context(), stream, q)
			if err != nil {
				t.Fatal(err)
			}
			w := want(byID, c.pred)
			if got := ids(page.Entries); !slices.Equal(got, w) {
				t.Errorf("got %d records %v, want %d %v", len(got), got, len(w), w)
			}
			if page.Exact != c.wantExact {
				t.Errorf("exact: got %v, want %v", page.Exact, c.wantExact)
			}
			if page.Exact && page.Total != int64(len(w)) {
				t.Errorf("total: got %d, want %d", page.Total, len(w))
			}
			if !page.Exact && page.Total < int64(len(w)) {
				t.Errorf("total (upper bound): got %d, want at least %d", page.Total, len(w))
			}
			if page.Next != "" {
				t.Errorf("next page: got %q, want none", page.Next)
			}
		})
	}
}

func TestSearchRequests_PagesCoverEveryMatchOnceAndCountStaysTheWhole(t *testing.T) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	byID := fillSearch(t, rdb, s, stream, 500)
	now := time.Now()
	for _, q := range []telemetry.RequestQuery{
		{Host: "h1.test", From: now.Add(-time.Hour), To: now.Add(time.Minute), Limit: 7},
		{Method: "POST", From: now.Add(-time.Hour), To: now.Add(time.Minute), Limit: 7},
	} {
		w := want(byID, func(r requestlog.Record) bool {
			return (q.Host == "" || r.Host == q.Host) && (q.Method == "" || r.Method == q.Method)
		})
		var got []string
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("more than 100 pages")
			}
			page, err := s.SearchRequests(t.Context(), stream, q)
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Entries) > q.Limit {
				t.Fatalf("page of %d records, want at most %d", len(page.Entries), q.Limit)
			}
			if q.Host != "" && page.Total != int64(len(w)) {
				t.Errorf("page %d total: got %d, want %d (the whole range)", pages, page.Total, len(w))
			}
			got = append(got, ids(page.Entries)...)
			if page.Next == "" {
				break
			}
			q.Before = page.Next
		}
		if !slices.Equal(got, w) {
			t.Errorf("%+v: pages gave %d records, want %d, in order", q, len(got), len(w))
		}
	}
}

func TestSearchRequests_TimeRangeBoundsResultsAndCount(t *testing.T) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	byID := fillSearch(t, rdb, s, stream, 300)
	all := want(byID, func(r requestlog.Record) bool { return r.Host == "h0.test" })
	// The range [time of the 10th newest, time of the 2nd newest) of h0's records.
	to := idTime(all[1])
	from := idTime(all[9])
	page, err := s.SearchRequests(t.Context(), stream, telemetry.RequestQuery{Host: "h0.test", From: from, To: to, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Entries {
		if e.Time.Before(from) || !e.Time.Before(to) {
			t.Errorf("record %s at %v outside [%v, %v)", e.ID, e.Time, from, to)
		}
	}
	if int64(len(page.Entries)) != page.Total || len(page.Entries) == 0 {
		t.Errorf("got %d records and total %d, want the same, non-zero", len(page.Entries), page.Total)
	}
}

func idTime(id string) time.Time {
	var ms int64
	fmt.Sscanf(id, "%d-", &ms)
	return time.UnixMilli(ms)
}

func TestSearchRequests_ScanStopsAtItsBoundAndContinuesOnTheNextPage(t *testing.T) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	// 100 POSTs, then MaxExamined+500 GETs: a method-only search scans from the newest.
	n := telemetry.MaxExamined + 600
	pipe := rdb.Pipeline()
	for i := range n {
		r := searchRecord(i)
		r.Method = "GET"
		if i < 100 {
			r.Method = "POST"
		}
		pipe.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, Values: r.Values()})
	}
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	q := telemetry.RequestQuery{Method: "POST", From: now.Add(-time.Hour), To: now.Add(time.Minute), Limit: 30}
	page, err := s.SearchRequests(t.Context(), stream, q)
	if err != nil {
		t.Fatal(err)
	}
	if page.Examined != telemetry.MaxExamined || len(page.Entries) != 0 || !page.LowerBound || page.Exact || page.Next == "" {
		t.Fatalf("first page: got examined %d, %d entries, lower bound %v, exact %v, next %q; want %d, 0, true, false, a cursor",
			page.Examined, len(page.Entries), page.LowerBound, page.Exact, page.Next, telemetry.MaxExamined)
	}
	var got int
	for q.Before = page.Next; q.Before != ""; q.Before = page.Next {
		if page, err = s.SearchRequests(t.Context(), stream, q); err != nil {
			t.Fatal(err)
		}
		got += len(page.Entries)
	}
	if got != 100 {
		t.Errorf("later pages: got %d POSTs, want 100", got)
	}
}

func TestSearchRequests_RefusesASearchReadingMoreThanItsBound(t *testing.T) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	fillSearch(t, rdb, s, stream, 600)
	now := time.Now()
	q := telemetry.RequestQuery{Host: "h1.test", From: now.Add(-time.Hour), To: now.Add(time.Minute), Limit: 10}
	s.MaxRead = 100 * 12 // h1.test alone has 200 postings of 12 bytes
	if _, err := s.SearchRequests(t.Context(), stream, q); !errors.Is(err, telemetry.ErrTooBroad) {
		t.Errorf("with a %d-byte bound: got %v, want ErrTooBroad", s.MaxRead, err)
	}
	s.MaxRead = 0 // the default
	if page, err := s.SearchRequests(t.Context(), stream, q); err != nil || page.Total != 200 {
		t.Errorf("with the default bound: got total %d, %v; want 200", page.Total, err)
	}
}

// The bound counts the records a search's postings hold, not their stored bytes: postings
// stored as runs do not let a search sort and intersect more than it would otherwise.
func TestSearchRequests_RefusesASearchWhosePostingsInRunsHoldMoreThanItsBound(t *testing.T) {
	rdb := newRedis(t)
	stream := telemetry.StreamNames("").Requests
	s := &telemetry.SearchIndex{Client: rdb, Index: telemetry.Index{Retention: time.Hour}}
	byID := fillSearchWith(t, rdb, s, stream, 600, runRecord)
	n := len(want(byID, func(r requestlog.Record) bool { return r.Status == 404 }))
	now := time.Now()
	q := telemetry.RequestQuery{Status: 404, From: now.Add(-time.Hour), To: now.Add(time.Minute), Limit: 10}
	s.MaxRead = int64(n-1) * 8
	if _, err := s.SearchRequests(t.Context(), stream, q); !errors.Is(err, telemetry.ErrTooBroad) {
		t.Errorf("with a %d-byte bound for %d records: got %v, want ErrTooBroad", s.MaxRead, n, err)
	}
	s.MaxRead = int64(n) * 8
	if page, err := s.SearchRequests(t.Context(), stream, q); err != nil || page.Total != int64(n) {
		t.Errorf("with a bound of exactly its records: got total %d, %v; want %d", page.Total, err, n)
	}
}
