package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/redis/go-redis/v9"
)

// readKeys reads names' types, then every value and TTL in one MULTI/EXEC.
func readKeys(ctx context.Context, c redis.Cmdable, names []string) ([]backupKey, error) {
	if len(names) == 0 {
		return nil, nil
	}
	tp := c.Pipeline()
	types := make([]*redis.StatusCmd, len(names))
	for i, n := range names {
		types[i] = tp.Type(ctx, n)
	}
	if _, err := tp.Exec(ctx); err != nil {
		return nil, err
	}
	tx := c.TxPipeline()
	ttls := make([]*redis.DurationCmd, len(names))
	vals := make([]redis.Cmder, len(names))
	for i, n := range names {
		ttls[i] = tx.PTTL(ctx, n)
		switch types[i].Val() {
		case "string":
			vals[i] = tx.Get(ctx, n)
		case "hash":
			vals[i] = tx.HGetAll(ctx, n)
		case "set":
			vals[i] = tx.SMembers(ctx, n)
		case "list":
			vals[i] = tx.LRange(ctx, n, 0, -1)
		case "zset":
			vals[i] = tx.ZRangeWithScores(ctx, n, 0, -1)
		case "stream":
			vals[i] = tx.XRange(ctx, n, "-", "+")
		case "none": // deleted since the scan
		default:
			return nil, fmt.Errorf("key %s has type %s, which backups do not handle", n, types[i].Val())
		}
	}
	if _, err := tx.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, err
	}
	var out []backupKey
	for i, n := range names {
		if vals[i] == nil || errors.Is(vals[i].Err(), redis.Nil) {
			continue
		}
		k := backupKey{Key: n, Type: types[i].Val()}
		if d := ttls[i].Val(); d > 0 {
			k.TTLms = d.Milliseconds()
		}
		fill(&k, vals[i])
		out = append(out, k)
	}
	return out, nil
}

func fill(k *backupKey, cmd redis.Cmder) {
	switch c := cmd.(type) {
	case *redis.StringCmd:
		k.String = []byte(c.Val())
	case *redis.MapStringStringCmd:
		k.Hash = map[string][]byte{}
		for f, v := range c.Val() {
			k.Hash[f] = []byte(v)
		}
	case *redis.StringSliceCmd:
		for _, m := range c.Val() {
			k.Members = append(k.Members, []byte(m))
		}
	case *redis.ZSliceCmd:
		k.Scores = map[string]float64{}
		for _, z := range c.Val() {
			k.Scores[fmt.Sprint(z.Member)] = z.Score
		}
	case *redis.XMessageSliceCmd:
		for _, m := range c.Val() {
			e := backupEntry{ID: m.ID}
			for _, f := range slices.Sorted(maps.Keys(m.Values)) { // readers go by name
				e.Fields = append(e.Fields, []byte(f), []byte(fmt.Sprint(m.Values[f])))
			}
			k.Entries = append(k.Entries, e)
		}
	}
}
