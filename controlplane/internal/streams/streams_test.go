package streams_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// recorder acknowledges what it processes, rejects entries without "n" as malformed, and
// fails (leaving entries pending, as a crash would) while failing is set.
type recorder struct {
	rdb     redis.UniversalClient
	mu      sync.Mutex
	seen    map[string]int
	failing bool
}

func (h *recorder) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.failing {
		return nil, errors.New("crashed")
	}
	var dead, ok []string
	for _, m := range msgs {
		if _, has := m.Values["n"]; !has {
			dead = append(dead, m.ID)
			continue
		}
		h.seen[m.ID]++
		ok = append(ok, m.ID)
	}
	if len(ok) > 0 {
		if err := h.rdb.XAck(ctx, stream, group, ok...).Err(); err != nil {
			return dead, err
		}
	}
	return dead, nil
}

func (h *recorder) count() (entries, deliveries int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, n := range h.seen {
		entries++
		deliveries += n
	}
	return
}

func run(t *testing.T, c *streams.Consumer) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = c.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func add(t *testing.T, rdb redis.UniversalClient, n int, values ...any) {
	t.Helper()
	for i := range n {
		v := values
		if v == nil {
			v = []any{"n", i}
		}
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: "s", Values: v}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.True(t, 10*time.Second, what, cond)
}

func newClient(t *testing.T, srv *redistest.Server) redis.UniversalClient {
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestConsumer_ProcessesAcksAndDeadLettersMalformed(t *testing.T) {
	srv := redistest.New(t)
	rdb := newClient(t, srv)
	h := &recorder{rdb: rdb, seen: map[string]int{}}
	add(t, rdb, 50)
	add(t, rdb, 3, "garbage", "x")
	run(t, streams.New(streams.Config{Client: newClient(t, srv), Stream: "s", Group: "g", Name: "c1", Handler: h, Batch: 7, Block: 50 * time.Millisecond}))
	add(t, rdb, 50)
	waitFor(t, "100 entries processed", func() bool { n, _ := h.count(); return n == 100 })
	waitFor(t, "3 dead letters", func() bool { n, _ := rdb.XLen(t.Context(), keyspace.DeadLetter("s")).Result(); return n == 3 })
	waitFor(t, "caught up", func() bool {
		l, err := streams.GroupLag(t.Context(), rdb, "s", "g", time.Now())
		return err == nil && l.Age == 0 && l.Pending == 0
	})
	// Dead-lettered entries were read and acknowledged too: 103 in all.
	if l, err := streams.GroupLag(t.Context(), rdb, "s", "g", time.Now()); err != nil || l.Processed != 103 {
		t.Errorf("processed: got %d %v, want 103", l.Processed, err)
	}
	dead, _ := rdb.XRange(t.Context(), keyspace.DeadLetter("s"), "-", "+").Result()
	if dead[0].Values["reason"] != "malformed entry" || dead[0].Values["f_garbage"] != "x" || dead[0].Values["original_id"] == nil {
		t.Errorf("dead letter: got %v", dead[0].Values)
	}
	if _, d := h.count(); d != 100 {
		t.Errorf("deliveries: got %d, want 100 (each once)", d)
	}
}

// A consumer that dies with entries pending: another claims them after ClaimIdle and every
// entry is processed exactly once; the lag meanwhile is the age of the oldest pending entry.
func TestConsumer_ClaimsWorkOfACrashedConsumer(t *testing.T) {
	srv := redistest.New(t)
	rdb := newClient(t, srv)
	crashed := &recorder{rdb: rdb, seen: map[string]int{}, failing: true}
	stop := run(t, streams.New(streams.Config{Client: newClient(t, srv), Stream: "s", Group: "g", Name: "dies", Handler: crashed, Block: 20 * time.Millisecond, ClaimIdle: time.Hour}))
	add(t, rdb, 40)
	waitFor(t, "entries pending with the crashed consumer", func() bool {
		p, err := rdb.XPending(t.Context(), "s", "g").Result()
		return err == nil && p.Count == 40
	})
	stop()
	later := time.Now().Add(time.Minute) // GroupLag's clock is the caller's: no need to wait
	lag, err := streams.GroupLag(t.Context(), rdb, "s", "g", later)
	if err != nil || lag.Pending != 40 || lag.Age < time.Minute || lag.Processed != 0 {
		t.Errorf("lag with a dead consumer a minute on: got %+v %v, want 40 pending, age over a minute, none processed", lag, err)
	}
	h := &recorder{rdb: rdb, seen: map[string]int{}}
	run(t, streams.New(streams.Config{Client: newClient(t, srv), Stream: "s", Group: "g", Name: "takes-over", Handler: h, Block: 20 * time.Millisecond, ClaimIdle: 100 * time.Millisecond}))
	waitFor(t, "the pending entries processed", func() bool { n, _ := h.count(); return n == 40 })
	if n, d := h.count(); n != 40 || d != 40 {
		t.Errorf("got %d entries in %d deliveries, want 40 in 40", n, d)
	}
}

// An entry that keeps failing is dead-lettered after MaxDeliveries.
func TestConsumer_DeadLettersAfterMaxDeliveries(t *testing.T) {
	srv := redistest.New(t)
	rdb := newClient(t, srv)
	h := &recorder{rdb: rdb, seen: map[string]int{}, failing: true}
	add(t, rdb, 1)
	run(t, streams.New(streams.Config{Client: newClient(t, srv), Stream: "s", Group: "g", Name: "c", Handler: h,
		Block: 10 * time.Millisecond, ClaimIdle: 20 * time.Millisecond, MaxDeliveries: 2}))
	waitFor(t, "the poison entry dead-lettered", func() bool { n, _ := rdb.XLen(t.Context(), keyspace.DeadLetter("s")).Result(); return n == 1 })
	dead, _ := rdb.XRange(t.Context(), keyspace.DeadLetter("s"), "-", "+").Result()
	if got := fmt.Sprint(dead[0].Values["reason"]); got != "delivered more than 2 times" {
		t.Errorf("reason: got %q", got)
	}
	if p, _ := rdb.XPending(t.Context(), "s", "g").Result(); p.Count != 0 {
		t.Errorf("pending after dead-lettering: %d, want 0", p.Count)
	}
}

// With Linger, the consumer pauses after a partial read and then reads what gathered in one
// go; every entry is processed once.
func TestConsumer_WithLingerEveryEntryIsProcessedOnce(t *testing.T) {
	srv := redistest.New(t)
	rdb := newClient(t, srv)
	h := &batchCounter{recorder: recorder{rdb: rdb, seen: map[string]int{}}}
	run(t, streams.New(streams.Config{Client: newClient(t, srv), Stream: "s", Group: "g", Name: "c1", Handler: h,
		Batch: 1000, Block: 50 * time.Millisecond, Linger: 300 * time.Millisecond}))
	add(t, rdb, 1)
	waitFor(t, "the first entry", func() bool { e, _ := h.count(); return e == 1 })
	// 100 more at once (MULTI: no read falls between them), while it lingers or not.
	tx := rdb.TxPipeline()
	for i := range 100 {
		tx.XAdd(t.Context(), &redis.XAddArgs{Stream: "s", Values: []any{"n", i}})
	}
	if _, err := tx.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "101 entries processed once", func() bool { e, d := h.count(); return e == 101 && d == 101 })
	if n := h.calls.Load(); n != 2 {
		t.Errorf("handler calls: got %d for 101 entries, want 2", n)
	}
}

// The group is created once, not before every read; when it goes missing (a Redis that
// restarted empty, here the group destroyed) the consumer creates it again and goes on.
func TestConsumer_CreatesTheGroupOnceAndAgainWhenItIsGone(t *testing.T) {
	srv := redistest.New(t)
	rdb := newClient(t, srv)
	h := &recorder{rdb: rdb, seen: map[string]int{}}
	run(t, streams.New(streams.Config{Client: newClient(t, srv), Stream: "s", Group: "g", Name: "c1", Handler: h, Block: 20 * time.Millisecond}))
	add(t, rdb, 10)
	waitFor(t, "10 entries processed", func() bool { n, _ := h.count(); return n == 10 })
	if err := rdb.ConfigResetStat(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	add(t, rdb, 10)
	waitFor(t, "20 entries processed", func() bool { n, _ := h.count(); return n == 20 })
	stats, err := rdb.Info(t.Context(), "commandstats").Result()
	if err != nil || strings.Contains(stats, "cmdstat_xgroup|create") {
		t.Errorf("XGROUP CREATE while the group exists: %v\n%s", err, stats)
	}
	if err := rdb.XGroupDestroy(t.Context(), "s", "g").Err(); err != nil {
		t.Fatal(err)
	}
	add(t, rdb, 5)
	// The new group starts at the stream's start: the first 20 again and the 5 new ones.
	waitFor(t, "25 entries processed after the group was gone", func() bool { n, _ := h.count(); return n == 25 })
}

// batchCounter counts the handler's calls.
type batchCounter struct {
	recorder
	calls atomic.Int64
}

func (b *batchCounter) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	b.calls.Add(1)
	return b.recorder.Handle(ctx, stream, group, msgs)
}
