package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// DefaultMaxRecords caps each telemetry stream unless configured (at ~300 bytes a request
// record with its trace and search indexes, ~300 MB for the request stream).
const DefaultMaxRecords = 1_000_000

// Trimmer bounds the telemetry streams in age and size: every Every it trims each stream
// with XTRIM MINID ~ (records older than Retention, by the Redis server's clock) and XTRIM
// MAXLEN ~ (MaxRecords records: for the request stream, whose entries are blocks of records,
// that many divided by the records per entry of its newest entries), and deletes the trace-index buckets that end before the stream's
// first entry (which MAXLEN trimmed away before they aged out). Publishers also cap with
// XADD MAXLEN ~, so between two rounds a stream overshoots by at most what arrives in
// Every. Replicas may all run one: every step is idempotent. XTRIM and DEL are allowed on a
// Redis out of memory (noeviction), so trimming is also how a full telemetry Redis recovers.
type Trimmer struct {
	// Client runs the trims (the telemetry pool). Required.
	Client redis.UniversalClient
	// Streams are trimmed; Indexed of them have a trace index.
	Streams, Indexed []string
	// Index is the trace index (its Retention is the streams' too).
	Index Index
	// MaxRecords caps each stream. Default DefaultMaxRecords.
	MaxRecords int64
	// Every is the pause between rounds. Default Retention/120, between 1s and 30s.
	Every time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
	// Limits override the retention (Index's) and MaxRecords per stream, by stream name.
	Limits map[string]StreamLimit
	// Searched streams have a log search index (SearchIndex, of width Search's) whose
	// buckets older than the stream's first entry are deleted too.
	Searched []string
	Search   Index
	// Retired are consumer groups no longer read (the request stream's "search" group of
	// earlier versions, whose work the metrics group now does): a round destroys each once
	// none of its consumers has read for RetireIdle (default 10 minutes), so that a group
	// an older replica still reads during an upgrade is kept, and one nobody reads does not
	// lag forever (the lag alerts and GetConsumerLag would report it).
	Retired    []Group
	RetireIdle time.Duration

	cleared       map[string]int64 // stream -> end of the last index bucket deleted; Run's only
	searchCleared map[string]int64 // the same for the search index
}

// Run trims until ctx ends. Failures are logged and the next round tries again.
func (t *Trimmer) Run(ctx context.Context) error {
	if t.Logger == nil {
		t.Logger = slog.New(slog.DiscardHandler)
	}
	every := t.Every
	if every <= 0 {
		every = min(30*time.Second, max(time.Second, t.Index.retention()/120))
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := t.Trim(ctx); err != nil && ctx.Err() == nil {
			t.Logger.WarnContext(ctx, "trimming telemetry streams", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Trim runs one round.
func (t *Trimmer) Trim(ctx context.Context) error {
	now, err := t.Client.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("reading the Redis clock: %w", err)
	}
	maxLen := t.MaxRecords
	if maxLen <= 0 {
		maxLen = DefaultMaxRecords
	}
	var errs []error
	for _, s := range t.Streams {
		age, n := t.Index.retention(), maxLen
		if l, ok := t.Limits[s]; ok {
			age, n = cmp.Or(l.MaxAge, age), cmp.Or(l.MaxLen, n)
		}
		per, err := t.recordsPerEntry(ctx, s)
		if err != nil {
			errs = append(errs, err)
		}
		n = max(1, (n+per-1)/per)
		minID := strconv.FormatInt(now.Add(-age).UnixMilli(), 10)
		pipe := t.Client.Pipeline()
		pipe.XTrimMinIDApprox(ctx, s, minID, 0)
		pipe.XTrimMaxLenApprox(ctx, s, n, 0)
		if _, err := pipe.Exec(ctx); err != nil {
			errs = append(errs, fmt.Errorf("trimming %s: %w", s, err))
		}
	}
	for _, s := range t.Indexed {
		if err := t.clearIndex(ctx, s, now); err != nil {
			errs = append(errs, err)
		}
	}
	for _, s := range t.Searched {
		if err := t.clearSearch(ctx, s, now); err != nil {
			errs = append(errs, err)
		}
	}
	for _, g := range t.Retired {
		if err := t.retire(ctx, g); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// retire destroys group g if it exists and none of its consumers has read for RetireIdle.
func (t *Trimmer) retire(ctx context.Context, g Group) error {
	idle := cmp.Or(t.RetireIdle, 10*time.Minute)
	cs, err := t.Client.XInfoConsumers(ctx, g.Stream, g.Group).Result()
	if err != nil {
		if msg := err.Error(); strings.Contains(msg, "no such key") || strings.Contains(msg, "NOGROUP") {
			return nil
		}
		return fmt.Errorf("reading the consumers of group %s on %s: %w", g.Group, g.Stream, err)
	}
	for _, c := range cs {
		if c.Idle < idle {
			return nil
		}
	}
	if err := t.Client.XGroupDestroy(ctx, g.Stream, g.Group).Err(); err != nil {
		return fmt.Errorf("destroying the retired group %s on %s: %w", g.Group, g.Stream, err)
	}
	if t.Logger != nil {
		t.Logger.InfoContext(ctx, "destroyed a consumer group no longer read", "stream", g.Stream, "group", g.Group)
	}
	return nil
}

// recordsPerEntry estimates how many records an entry of stream holds (request records are
// many to an entry, requestlog.BlockField) from its newest entries, so that the length cap
// counts records: the cap in entries is MaxRecords divided by it.
func (t *Trimmer) recordsPerEntry(ctx context.Context, stream string) (int64, error) {
	msgs, err := t.Client.XRevRangeN(ctx, stream, "+", "-", 10).Result()
	if err != nil || len(msgs) == 0 {
		return 1, err
	}
	var recs int64
	for _, m := range msgs {
		recs++
		if b, ok, err := requestlog.BlockText(m.Values); ok && err == nil {
			recs += int64(strings.Count(b, "\n"))
		}
	}
	return max(1, recs/int64(len(msgs))), nil
}

// clearIndex deletes stream's index buckets that end at or before its first entry and
// after the retention window's start (older ones expire on their own).
func (t *Trimmer) clearIndex(ctx context.Context, stream string, now time.Time) error {
	first, err := t.Client.XRangeN(ctx, stream, "-", "+", 1).Result()
	if err != nil || len(first) == 0 {
		return err
	}
	w := t.Index.width().Milliseconds()
	firstMs := streams.IDTime(first[0].ID).UnixMilli()
	start := now.Add(-t.Index.retention()).UnixMilli() - w
	start -= start % w
	if t.cleared == nil {
		t.cleared = map[string]int64{}
	}
	start = max(start, t.cleared[stream])
	var keys []string
	for b := start; b+w <= firstMs; b += w {
		for shard := range shards {
			keys = append(keys, keyspace.TraceBucket(stream, b, byte(shard)))
		}
		t.cleared[stream] = b + w
	}
	for len(keys) > 0 {
		n := min(len(keys), 512)
		if err := t.Client.Unlink(ctx, keys[:n]...).Err(); err != nil {
			return fmt.Errorf("deleting index buckets of %s: %w", stream, err)
		}
		keys = keys[n:]
	}
	return nil
}
