package publish_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func start(t *testing.T, srv *redistest.Server, cfg publish.Config) (*publish.Publisher, redis.UniversalClient) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	cfg.Client = rdb
	p := publish.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; rdb.Close() })
	return p, rdb
}

func waitLen(t *testing.T, rdb redis.UniversalClient, stream string, want int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := rdb.XLen(context.Background(), stream).Result()
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("XLEN %s: got %d, want %d", stream, n, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPublish_EveryRecordArrivesInOrder(t *testing.T) {
	srv := redistest.New(t)
	p, rdb := start(t, srv, publish.Config{Batch: 7})
	for i := range 100 {
		p.Publish(publish.Record{Stream: "s", Values: []any{"i", i}})
	}
	waitLen(t, rdb, "s", 100)
	msgs, err := rdb.XRange(t.Context(), "s", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range msgs {
		if m.Values["i"] != fmt.Sprint(i) {
			t.Fatalf("entry %d: got %v, want i=%d", i, m.Values, i)
		}
	}
	if st := p.Stats(); st.Sent != 100 || st.Dropped != 0 {
		t.Errorf("stats: got %+v, want 100 sent, none dropped", st)
	}
}

// With Redis gone, Publish still returns at once; what does not fit is dropped and counted;
// what was buffered arrives once Redis is back.
func TestPublish_RedisDownNeverBlocksAndResumes(t *testing.T) {
	srv := redistest.New(t)
	p, rdb := start(t, srv, publish.Config{Buffer: 50, RetryEvery: 50 * time.Millisecond})
	srv.Stop()
	began := time.Now()
	for i := range 1000 {
		p.Publish(publish.Record{Stream: "s", Values: []any{"i", i}})
	}
	if took := time.Since(began); took > time.Second {
		t.Errorf("1000 publishes with Redis down took %s: Publish blocked", took)
	}
	if st := p.Stats(); st.Dropped < 1000-50-512 {
		t.Errorf("dropped: got %d, want most of the 1000 records counted as dropped", st.Dropped)
	}
	srv.Start()
	p.Publish(publish.Record{Stream: "s", Values: []any{"i", "after"}})
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := rdb.XLen(t.Context(), "s").Result()
		st := p.Stats()
		if n > 0 && uint64(n) == st.Sent && st.Buffered == 0 {
			if st.Sent+st.Dropped != 1001 {
				t.Errorf("sent %d + dropped %d: want 1001 records accounted for", st.Sent, st.Dropped)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing did not resume: XLEN %d, stats %+v", n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func BenchmarkPublish(b *testing.B) {
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	p := publish.New(publish.Config{Client: rdb, Buffer: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		p.Publish(publish.Record{Stream: "bench", Values: []any{"status", 200, "path", "/x"}})
	}
	for p.Stats().Sent+p.Stats().Dropped < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(p.Stats().Sent)/b.Elapsed().Seconds(), "records/s")
	cancel()
	<-done
}

// A Redis at its maxmemory with noeviction refuses XADD: Publish still never blocks,
// records beyond the buffer are dropped and counted, and Stats says why.
func TestPublish_RedisOutOfMemoryDropsAndCounts(t *testing.T) {
	srv := redistest.NewWithOptions(t, redistest.Options{Args: []string{"--maxmemory", "2mb", "--maxmemory-policy", "noeviction"}})
	p, rdb := start(t, srv, publish.Config{Buffer: 100, RetryEvery: 10 * time.Millisecond})
	// Fill with large values, then small ones: memory left under maxmemory after a refused
	// large value could still take a small record.
	for _, size := range []int{64 << 10, 64} {
		v := make([]byte, size)
		for i := 0; ; i++ {
			if err := rdb.Set(context.Background(), fmt.Sprintf("fill:%d:%d", size, i), v, 0).Err(); err != nil {
				break
			}
		}
	}
	for i := range 1000 {
		p.Publish(publish.Record{Stream: "s", Values: []any{"i", i}})
	}
	deadline := time.Now().Add(10 * time.Second)
	for s := p.Stats(); s.FailedBatches == 0; s = p.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("no failed batch reported: %+v", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s := p.Stats()
	if s.Dropped == 0 || s.Sent != 0 || !strings.Contains(s.LastError, "OOM") {
		t.Errorf("got %+v, want drops, nothing sent and the OOM error", s)
	}
}
