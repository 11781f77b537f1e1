package telemetry

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/keyspace"
)

// searchTerms lists every term a bucket of the search index may hold (about 1,600).
func searchTerms() []string {
	var out []string
	for code := 100; code <= 999; code++ {
		out = append(out, termStatus+strconv.Itoa(code))
	}
	for c := 1; c <= 9; c++ {
		out = append(out, termClass+strconv.Itoa(c))
	}
	for b := range latencyBounds {
		out = append(out, termLatency+strconv.Itoa(b))
	}
	for _, f := range []struct {
		letter string
		n      uint32
	}{{termHost, smallShards}, {termRoute, smallShards}, {termClient, bigShards}, {termPath, bigShards}} {
		for i := range f.n {
			out = append(out, f.letter+shardName(i, f.n))
		}
	}
	return out
}

// clearSearch deletes stream's search buckets that end at or before its first entry (what
// MAXLEN trimmed) and after the retention window's start (older ones have expired).
func (t *Trimmer) clearSearch(ctx context.Context, stream string, now time.Time) error {
	first, err := t.Client.XRangeN(ctx, stream, "-", "+", 1).Result()
	if err != nil || len(first) == 0 {
		return err
	}
	w := t.Search.width().Milliseconds()
	firstMs := streams.IDTime(first[0].ID).UnixMilli()
	start := now.Add(-t.Search.retention()).UnixMilli() - w
	start -= start % w
	if t.searchCleared == nil {
		t.searchCleared = map[string]int64{}
	}
	start = max(start, t.searchCleared[stream])
	terms := searchTerms()
	for b := start; b+w <= firstMs; b += w {
		keys := make([]string, len(terms))
		for i, term := range terms {
			keys[i] = keyspace.SearchPostings(stream, b, term)
		}
		if err := unlinkAll(ctx, t.Client, keys); err != nil {
			return fmt.Errorf("deleting search buckets of %s: %w", stream, err)
		}
		t.searchCleared[stream] = b + w
	}
	return nil
}

// unlinkAll unlinks keys, 512 a call.
func unlinkAll(ctx context.Context, c redis.UniversalClient, keys []string) error {
	for len(keys) > 0 {
		n := min(len(keys), 512)
		if err := c.Unlink(ctx, keys[:n]...).Err(); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}
