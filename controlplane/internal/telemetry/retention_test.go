package telemetry_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
)

func TestParseStreamRetention_AgeAndLengthPerStream(t *testing.T) {
	known := telemetry.StreamNames("").All()
	got, err := telemetry.ParseStreamRetention("logs:request:stream=24h, logs:request:stream=2000000,events:all:stream=100000", known)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]telemetry.StreamLimit{
		"logs:request:stream": {MaxAge: 24 * time.Hour, MaxLen: 2_000_000},
		"events:all:stream":   {MaxLen: 100_000},
	}
	if len(got) != len(want) || got["logs:request:stream"] != want["logs:request:stream"] || got["events:all:stream"] != want["events:all:stream"] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"x=1h", "logs:all:stream=1y", "logs:all:stream=-5", "logs:all:stream=999", "logs:all:stream=31d", "=1h", "logs:all:stream=1000,logs:all:stream=2000"} {
		if _, err := telemetry.ParseStreamRetention(bad, known); err == nil {
			t.Errorf("%q: got no error", bad)
		}
	}
}

// TestTrimmer_PerStreamLimitsOverrideRetentionAndCap: against a real Redis, the request
// stream keeps 3h of records where the default is 1h, and the events stream is cut to
// its own length while the others keep the default cap.
func TestTrimmer_PerStreamLimitsOverrideRetentionAndCap(t *testing.T) {
	rdb := newRedis(t)
	ctx := t.Context()
	streams := telemetry.StreamNames("")
	now, err := rdb.Time(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	// 2h-old records in the logs and request streams; 5000 fresh ones in events and alerts.
	old := now.Add(-2 * time.Hour).UnixMilli()
	for i := range 300 {
		id := strconv.FormatInt(old+int64(i), 10) + "-0"
		for _, s := range []string{streams.LogsAll, streams.Requests} {
			if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: s, ID: id, Values: []any{"msg", "old"}}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	pipe := rdb.Pipeline()
	for range 5000 {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: streams.Events, Values: []any{"event_type", "x"}})
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: streams.Alerts, Values: []any{"a", "x"}})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	limits, err := telemetry.ParseStreamRetention("logs:request:stream=3h,events:all:stream=1000", streams.All())
	if err != nil {
		t.Fatal(err)
	}
	tr := &telemetry.Trimmer{Client: rdb, Streams: streams.All(), Index: telemetry.Index{Retention: time.Hour},
		MaxRecords: 10_000, Limits: limits}
	if err := tr.Trim(ctx); err != nil {
		t.Fatal(err)
	}
	check := func(stream string, lo, hi int64) {
		if n := rdb.XLen(ctx, stream).Val(); n < lo || n > hi {
			t.Errorf("%s: got %d records, want %d to %d", stream, n, lo, hi)
		}
	}
	check(streams.LogsAll, 0, 0)      // 1h default retention
	check(streams.Requests, 300, 300) // its own 3h
	check(streams.Events, 1000, 1100) // its own length (MAXLEN ~ cuts whole nodes)
	check(streams.Alerts, 5000, 5000) // default cap 10000
}
