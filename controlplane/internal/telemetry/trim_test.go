package telemetry_test

import (
	"context"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/requestlog"
	"github.com/edgeplane/edgeplane/internal/tracectx"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

func TestTrimmer_DropsRecordsPastRetentionOrCapAndTheirIndex(t *testing.T) {
	rdb := newRedis(t)
	streams := telemetry.StreamNames("")
	x := telemetry.Index{Retention: time.Hour}
	now, err := rdb.Time(t.Context()).Result()
	if err != nil {
		t.Fatal(err)
	}
	old := now.Add(-2 * time.Hour).UnixMilli()
	for i := range 300 {
		id := strconv.FormatInt(old+int64(i), 10) + "-0"
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: streams.LogsAll, ID: id, Values: []any{"msg", "old"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	writeIndexed(t, rdb, x, streams.Requests, 5000)
	tr := &telemetry.Trimmer{Client: rdb, Streams: streams.All(), Indexed: streams.Indexed(), Index: x, MaxRecords: 1000}
	if err := tr.Trim(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := rdb.XLen(t.Context(), streams.LogsAll).Val(); n != 0 {
		t.Errorf("logs stream: got %d records older than the retention, want 0", n)
	}
	// MAXLEN ~ trims whole stream nodes (a block of 100 records fills one).
	msgs, err := rdb.XRange(t.Context(), streams.Requests, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, m := range msgs {
		recs, _ := requestlog.Records(m.Values)
		n += len(recs)
	}
	if n < 1000 || n > 1100 {
		t.Errorf("request stream: got %d records, want 1000 to 1100 (cap 1000)", n)
	}
}

func TestTrimmer_DeletesIndexBucketsOlderThanTheStream(t *testing.T) {
	rdb := newRedis(t)
	streams := telemetry.StreamNames("")
	x := telemetry.Index{Retention: time.Hour, Width: time.Second}
	writeIndexed(t, rdb, x, streams.Requests, 2000)
	// Wait (on the Redis clock) until the index has a bucket that ended, then write one
	// more record and cap the stream to it: the earlier buckets index nothing left.
	start, _ := rdb.Time(t.Context()).Result()
	for now := start; now.Sub(start) < 1100*time.Millisecond; now, _ = rdb.Time(t.Context()).Result() {
		time.Sleep(50 * time.Millisecond) // waiting for wall-clock time to pass, not for an event
	}
	writeIndexed(t, rdb, x, streams.Requests, 1)
	if err := rdb.XTrimMaxLen(t.Context(), streams.Requests, 1).Err(); err != nil {
		t.Fatal(err)
	}
	tr := &telemetry.Trimmer{Client: rdb, Streams: streams.All(), Indexed: streams.Indexed(), Index: x, MaxRecords: 1000}
	if err := tr.Trim(t.Context()); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(t.Context(), keyspace.TraceIndexPrefix(streams.Requests)+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 {
		t.Errorf("got %d index strings (%v), want the last record's one", len(keys), keys)
	}
}

func TestReader_TraceGathersLogsEventsAndRequestsOldestFirst(t *testing.T) {
	rdb := newRedis(t)
	streams := telemetry.StreamNames("")
	x := telemetry.Index{Retention: time.Hour}
	pub := publish.New(publish.Config{Client: rdb, Index: x})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = pub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	tc := tracectx.New()
	tctx := tracectx.With(context.Background(), tc)
	log := slog.New(telemetry.Tee(slog.DiscardHandler, pub, streams, slog.LevelInfo))
	log.InfoContext(tctx, "first")
	telemetry.NewEvents(pub, streams).For("routing").Emit(tctx, &event.RouteChanged{})
	log.InfoContext(context.Background(), "another trace")

	r := &telemetry.Reader{Client: rdb, Streams: streams, Index: x}
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := r.Trace(t.Context(), tc.TraceIDString())
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 2 {
			if got[0].Stream != streams.LogsAll || got[0].Fields["msg"] != "first" || got[1].Stream != streams.Events {
				t.Errorf("got %+v, want the log record then the event", got)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("got %d records of the trace, want 2", len(got))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A retired consumer group (the search group of earlier versions) is kept while a consumer
// still reads it (an older replica during an upgrade) and destroyed once none has read for
// RetireIdle; a missing stream or group is no error.
func TestTrimmer_DestroysARetiredGroupOnceNobodyReadsIt(t *testing.T) {
	rdb := newRedis(t)
	ctx := t.Context()
	streams := telemetry.StreamNames("")
	g := telemetry.Group{Stream: streams.Requests, Group: keyspace.GroupSearch}
	tr := &telemetry.Trimmer{Client: rdb, Streams: streams.All(), Indexed: streams.Indexed(), Index: telemetry.Index{Retention: time.Hour},
		Retired: []telemetry.Group{g}, RetireIdle: time.Hour}
	if err := tr.Trim(ctx); err != nil {
		t.Fatalf("no stream yet: %v", err)
	}
	if err := rdb.XGroupCreateMkStream(ctx, g.Stream, keyspace.GroupMetrics, "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Trim(ctx); err != nil {
		t.Fatalf("no retired group: %v", err)
	}
	if err := rdb.XGroupCreate(ctx, g.Stream, g.Group, "0").Err(); err != nil {
		t.Fatal(err)
	}
	// Redis makes a group's consumer when it first delivers to it.
	if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: g.Stream, Values: []any{"k", "v"}}).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: g.Group, Consumer: "old-replica", Streams: []string{g.Stream, ">"}, Block: -1}).Err(); err != nil {
		t.Fatal(err)
	}
	groups := func() []string {
		gs, err := rdb.XInfoGroups(ctx, g.Stream).Result()
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, x := range gs {
			names = append(names, x.Name)
		}
		return names
	}
	if err := tr.Trim(ctx); err != nil || len(groups()) != 2 {
		t.Fatalf("a consumer read the retired group just now: got groups %v, %v; want both kept", groups(), err)
	}
	tr.RetireIdle = 5 * time.Millisecond
	waitfor.True(t, 10*time.Second, "the retired group destroyed once its consumer is idle", func() bool {
		return tr.Trim(ctx) == nil && len(groups()) == 1
	})
	if got := groups(); got[0] != keyspace.GroupMetrics {
		t.Errorf("groups left: %v, want the metrics group", got)
	}
}
