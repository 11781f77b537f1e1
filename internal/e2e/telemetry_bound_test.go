package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// The short form of `make soak`: 25 s of load through a traced agent with a 10 s retention.
// Afterwards nothing older than the retention (plus one trimming round) is left in the
// request stream, no index bucket outlives its expiry, a retained record costs at most 300
// bytes of Redis memory all telemetry included, and a recent trace is found.
func TestTelemetry_ShortSoakStaysBounded(t *testing.T) {
	const retention = 10 * time.Second
	state := redistest.New(t)
	tel := redistest.New(t)
	cp := startControl(t, state.URL(), "cp-1", "--telemetry-redis-url", tel.URL(), "--agent-redis-url", tel.URL(),
		"--telemetry-retention", retention.String(), "--log-level", "info")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))
	ag.expectServes("web.test", "/", http.StatusOK, "A /")
	tdb := redis.NewClient(&redis.Options{Addr: tel.Addr})
	defer tdb.Close()
	base := infoInt(t, tdb, "used_memory")

	ctx, stop := context.WithTimeout(t.Context(), 25*time.Second)
	defer stop()
	last := loadUntil(ctx, ag.Addr, 8)
	if last == "" {
		t.Fatal("no request answered with a trace id")
	}

	records := countRecords(t, tdb, "logs:request:stream")
	perRecord := (infoInt(t, tdb, "used_memory") - base) / max(records, 1)
	searchPerRecord := keysMemory(t, tdb, keyspace.SearchPrefix(keyspace.DefaultRequestStream)+"*") / max(records, 1)
	// Looked up before it ages out of the 10 s retention.
	eventually(t, 10*time.Second, func() error { // the metrics consumer indexes it
		res, err := edgeplanev1.NewTelemetryServiceClient(cp.conn).GetTrace(t.Context(), &edgeplanev1.GetTraceRequest{TraceId: last})
		if err != nil || len(res.GetEntries()) != 1 || res.GetEntries()[0].GetFields()["host"] != "web.test" {
			return fmt.Errorf("GetTrace of the last request: got %v %v, want its request record", res.GetEntries(), err)
		}
		return nil
	})
	// MINID ~ trims whole stream nodes and the trimmer runs every second, but on a loaded
	// two-core box a round can start late (seconds, with tests running beside it): the bound
	// must hold once a round has run.
	eventually(t, 30*time.Second, func() error {
		first, err := tdb.XRangeN(t.Context(), "logs:request:stream", "-", "+", 1).Result()
		if err != nil {
			return fmt.Errorf("request stream: %w", err)
		}
		if len(first) == 0 {
			return nil // every record has aged out and been trimmed
		}
		now, _ := tdb.Time(t.Context()).Result()
		ms, _ := strconv.ParseInt(strings.Split(first[0].ID, "-")[0], 10, 64)
		if age := now.Sub(time.UnixMilli(ms)); age > retention+2*time.Second {
			return fmt.Errorf("oldest request record is %s old, want at most the retention %s (+2s)", age, retention)
		}
		return nil
	})
	now, _ := tdb.Time(t.Context()).Result()
	keys, _ := tdb.Keys(t.Context(), keyspace.TraceIndexPrefix(keyspace.DefaultRequestStream)+"*").Result()
	for _, k := range keys {
		parts := strings.Split(k, ":")
		start, _ := strconv.ParseInt(parts[len(parts)-2], 10, 64)
		if age := now.Sub(time.UnixMilli(start)); age > 2*retention+2*time.Second {
			t.Errorf("index bucket %s is %s old, past its expiry", k, age)
		}
	}
	// The budget of issue 17 (a record and the index that finds it by trace id: 300 bytes)
	// and, beside it, the log search index's own (up to ~125 bytes a record until a closed
	// bucket is compacted, which this short run never reaches; ~81 after).
	t.Logf("%d records retained, %d bytes each all telemetry included, of which the log search index %d",
		records, perRecord, searchPerRecord)
	if records < 1000 || perRecord-searchPerRecord > 300 || searchPerRecord > 160 {
		t.Errorf("got %d records at %d bytes each (search index %d), want at least 1000 at most 300 bytes without the search index and at most 160 for it",
			records, perRecord, searchPerRecord)
	}
	if w := cp.Logs("unsafe telemetry Redis settings"); len(w) != 1 || !strings.Contains(fmt.Sprint(w[0]["advice"]), "no maxmemory") {
		t.Errorf("start-up warnings: got %v, want one saying the telemetry Redis has no maxmemory", w)
	}
}

// countRecords counts the request records of stream (agents publish them many to an entry).
func countRecords(t *testing.T, rdb *redis.Client, stream string) int64 {
	t.Helper()
	var n int64
	start := "-"
	for {
		msgs, err := rdb.XRangeN(t.Context(), stream, start, "+", 1000).Result()
		if err != nil {
			t.Fatalf("reading %s: %v", stream, err)
		}
		for _, m := range msgs {
			requestlog.Each(m.Values, func(int, *requestlog.Record, error) bool { n++; return true })
		}
		if len(msgs) < 1000 {
			return n
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// loadUntil sends GET web.test through the agent on conns connections until ctx ends, and
// returns the trace id of the last answer.
func loadUntil(ctx context.Context, addr string, conns int) string {
	var mu sync.Mutex
	var last string
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			c := &http.Client{Timeout: 5 * time.Second}
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
				req.Host = "web.test"
				res, err := c.Do(req)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				last = res.Header.Get("X-Trace-Id")
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return last
}

func infoInt(t *testing.T, rdb *redis.Client, field string) int64 {
	t.Helper()
	info, err := rdb.Info(t.Context(), "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	t.Fatalf("no %s in INFO", field)
	return 0
}

// keysMemory sums MEMORY USAGE of the keys matching pattern.
func keysMemory(t *testing.T, rdb *redis.Client, pattern string) int64 {
	t.Helper()
	var total int64
	iter := rdb.Scan(t.Context(), 0, pattern, 1000).Iterator()
	for iter.Next(t.Context()) {
		n, err := rdb.MemoryUsage(t.Context(), iter.Val(), 0).Result()
		if err == nil {
			total += n
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}
