package streams

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Lag is how far a group is behind on a stream.
type Lag struct {
	// Age of the oldest entry the group has not finished (pending, or not yet delivered);
	// zero when it is caught up.
	Age time.Duration
	// Pending entries delivered but not acknowledged.
	Pending int64
	// Undelivered entries after the group's last delivered id (Redis 7's "lag").
	Undelivered int64
	// Processed entries: read by the group (Redis 7's "entries-read", counted since the
	// group was made, trimmed entries included) and acknowledged.
	Processed int64
}

// GroupLag measures group's lag on stream at now.
func GroupLag(ctx context.Context, rdb redis.UniversalClient, stream, group string, now time.Time) (Lag, error) {
	groups, err := rdb.XInfoGroups(ctx, stream).Result()
	if err != nil {
		return Lag{}, fmt.Errorf("reading groups of %s: %w", stream, err)
	}
	for _, g := range groups {
		if g.Name != group {
			continue
		}
		l := Lag{Pending: g.Pending, Undelivered: max(g.Lag, 0), Processed: max(g.EntriesRead-g.Pending, 0)}
		oldest := ""
		if g.Pending > 0 {
			p, err := rdb.XPending(ctx, stream, group).Result()
			if err != nil {
				return Lag{}, fmt.Errorf("reading pending of %s: %w", stream, err)
			}
			oldest = p.Lower
		} else {
			next, err := rdb.XRangeN(ctx, stream, "("+g.LastDeliveredID, "+", 1).Result()
			if err != nil {
				return Lag{}, fmt.Errorf("reading %s: %w", stream, err)
			}
			if len(next) > 0 {
				oldest = next[0].ID
			}
		}
		if oldest != "" {
			l.Age = max(now.Sub(IDTime(oldest)), 0)
		}
		return l, nil
	}
	return Lag{}, errors.New("no group " + group + " on " + stream)
}

// IDTime is the time in a stream entry id ("<ms>-<seq>").
func IDTime(id string) time.Time {
	ms, _, _ := strings.Cut(id, "-")
	n, _ := strconv.ParseInt(ms, 10, 64)
	return time.UnixMilli(n)
}
