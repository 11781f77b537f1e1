package publish_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// pipelineCounter counts the pipelines a client sends (a go-redis hook on a real client).
type pipelineCounter struct{ n atomic.Int64 }

func (*pipelineCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (*pipelineCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (c *pipelineCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmds)
	}
}

// Records from many callers all arrive, each caller's in the order it published them.
func TestPublishValue_EveryRecordArrivesInOrderPerCaller(t *testing.T) {
	srv := redistest.New(t)
	p, rdb := start(t, srv, publish.Config{Batch: 50})
	const callers, each = 4, 300
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				p.PublishValue(uint8(c), "s", "r", fmt.Appendf(nil, "%d:%d", c, i))
			}
		})
	}
	wg.Wait()
	waitLen(t, rdb, "s", callers*each)
	msgs, err := rdb.XRange(t.Context(), "s", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	next := make([]int, callers)
	for _, m := range msgs {
		var c, i int
		if _, err := fmt.Sscanf(m.Values["r"].(string), "%d:%d", &c, &i); err != nil || len(m.Values) != 1 {
			t.Fatalf("entry %v: want one field r=caller:index", m.Values)
		}
		if i != next[c] {
			t.Fatalf("caller %d: got record %d, want %d", c, i, next[c])
		}
		next[c]++
	}
	if st := p.Stats(); st.Sent != callers*each || st.Dropped != 0 || st.Buffered != 0 {
		t.Errorf("stats: got %+v, want %d sent, none dropped or buffered", st, callers*each)
	}
}

// Records published together go out in few large pipelines, not one per record.
func TestPublishValue_BatchesRecordsIntoFewPipelines(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	pipes := &pipelineCounter{}
	rdb.AddHook(pipes)
	p := publish.New(publish.Config{Client: rdb, Batch: 512, Linger: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	for i := range 1000 {
		p.PublishValue(uint8(i), "s", "r", []byte("x"))
	}
	waitLen(t, rdb, "s", 1000)
	// 1000 records in 512-record pipelines: 2 per shard-batch boundary at most; a flush
	// may start before the last records are in, so allow one more round.
	if n := pipes.n.Load(); n > 2*8 {
		t.Errorf("pipelines: got %d for 1000 records, want at most 16 (8 buffers, 512 per pipeline)", n)
	}
}

// With Redis gone PublishValue still returns at once, drops and counts what does not fit,
// and the buffered records arrive once Redis is back.
func TestPublishValue_RedisDownDropsAndResumes(t *testing.T) {
	srv := redistest.New(t)
	p, rdb := start(t, srv, publish.Config{Buffer: 64, RetryEvery: 50 * time.Millisecond})
	srv.Stop()
	for i := range 1000 {
		p.PublishValue(uint8(i), "s", "r", []byte("x"))
	}
	if st := p.Stats(); st.Dropped < 1000-2*64 {
		t.Errorf("dropped: got %d, want most of 1000 (buffer 64, plus one batch in flight)", st.Dropped)
	}
	srv.Start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, _ := rdb.XLen(t.Context(), "s").Result()
		st := p.Stats()
		if n > 0 && uint64(n) == st.Sent && st.Buffered == 0 {
			if st.Sent+st.Dropped != 1000 {
				t.Errorf("sent %d + dropped %d: want 1000 records accounted for", st.Sent, st.Dropped)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publishing did not resume: XLEN %d, stats %+v", n, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkPublishValue: callers on every core publishing ~200-byte records into a real
// Redis; allocs/op are the callers' and the sender's together.
func BenchmarkPublishValue(b *testing.B) {
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	p := publish.New(publish.Config{Client: rdb, Buffer: 1 << 20})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()
	rec := make([]byte, 200)
	var shard atomic.Uint32
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		s := uint8(shard.Add(1))
		for pb.Next() {
			p.PublishValue(s, "bench", "r", rec)
		}
	})
	for p.Stats().Sent+p.Stats().Dropped < uint64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(p.Stats().Sent)/b.Elapsed().Seconds(), "records/s")
	cancel()
	<-done
}

// With Packing, records go out many to an entry, newline-joined under the packed field,
// each caller's still in order; the counters count records, not entries.
func TestPublishValue_PacksRecordsIntoBlocks(t *testing.T) {
	srv := redistest.New(t)
	p, rdb := start(t, srv, publish.Config{Linger: 50 * time.Millisecond,
		Pack: &publish.Packing{Field: "r", Into: "b", MaxRecords: 100}})
	const callers, each = 4, 300
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			for i := range each {
				p.PublishValue(uint8(c), "s", "r", fmt.Appendf(nil, "%d:%d", c, i))
			}
		})
	}
	wg.Wait()
	p.PublishValue(0, "s", "other", []byte("alone"))
	next := make([]int, callers)
	others := 0
	var entries int
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Sent < callers*each+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	msgs, err := rdb.XRange(t.Context(), "s", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		entries++
		if v, ok := m.Values["other"]; ok {
			others++
			if v != "alone" || len(m.Values) != 1 {
				t.Errorf("unpacked entry: got %v, want other=alone", m.Values)
			}
			continue
		}
		lines := strings.Split(m.Values["b"].(string), "\n")
		if len(m.Values) != 1 || len(lines) > 100 {
			t.Fatalf("block %v: want one field b of at most 100 lines", m.Values)
		}
		for _, l := range lines {
			var c, i int
			if _, err := fmt.Sscanf(l, "%d:%d", &c, &i); err != nil || i != next[c] {
				t.Fatalf("caller %d: got record %q, want index %d", c, l, next[c])
			}
			next[c]++
		}
	}
	for c := range callers {
		if next[c] != each {
			t.Errorf("caller %d: got %d records, want %d", c, next[c], each)
		}
	}
	if others != 1 || entries > callers*each/10 {
		t.Errorf("entries: got %d (%d unpacked), want few blocks and 1 unpacked", entries, others)
	}
	if st := p.Stats(); st.Sent != callers*each+1 || st.Dropped != 0 {
		t.Errorf("stats: got %+v, want %d sent", st, callers*each+1)
	}
}

// With Packing.Encode, each block goes encoded under the encoded field, holding the same
// records in the same order; once Encode says no, blocks go as text again.
func TestPublishValue_EncodesBlocksWhenAsked(t *testing.T) {
	srv := redistest.New(t)
	var on atomic.Bool
	on.Store(true)
	rev := func(dst, v []byte) []byte { // a reversible stand-in for compression
		for i := len(v) - 1; i >= 0; i-- {
			dst = append(dst, v[i])
		}
		return dst
	}
	p, rdb := start(t, srv, publish.Config{Linger: 20 * time.Millisecond,
		Pack: &publish.Packing{Field: "r", Into: "b", MaxRecords: 3, Encode: func() (string, func(dst, v []byte) []byte) {
			if on.Load() {
				return "z", rev
			}
			return "", nil
		}}})
	send := func(from, to int) {
		for i := from; i < to; i++ {
			p.PublishValue(0, "s", "r", fmt.Appendf(nil, "rec%d", i))
		}
		deadline := time.Now().Add(10 * time.Second)
		for p.Stats().Sent < uint64(to) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
	}
	send(0, 7)
	on.Store(false)
	send(7, 9)
	on.Store(true)
	p.PublishValue(0, "s", "other", []byte("alone")) // not packed: never encoded
	for deadline := time.Now().Add(10 * time.Second); p.Stats().Sent < 10 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	msgs, err := rdb.XRange(t.Context(), "s", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		for f, v := range m.Values {
			s := v.(string)
			if f == "z" {
				s = string(rev(nil, []byte(s)))
			}
			got = append(got, f+"="+strings.ReplaceAll(s, "\n", ","))
		}
	}
	want := []string{"z=rec0,rec1,rec2", "z=rec3,rec4,rec5", "z=rec6", "b=rec7,rec8", "other=alone"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("entries: got %q, want %q", got, want)
	}
}
