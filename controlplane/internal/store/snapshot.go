package store

import (
	"context"
	"errors"

	"github.com/redis/go-redis/v9"
)

// Snapshot reads the revision and every resource of every kind in one MULTI/EXEC, so they
// are consistent.
func (s *Store) Snapshot(ctx context.Context) (int64, []Item, error) {
	pipe := s.rdb.TxPipeline()
	revCmd := pipe.Get(ctx, s.keys.revision)
	all := make([]*redis.MapStringStringCmd, len(Kinds))
	for i, kind := range Kinds {
		hash, _ := s.hashFor(kind)
		all[i] = pipe.HGetAll(ctx, hash)
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, nil, mapErr(err, "reading snapshot")
	}
	rev, err := revCmd.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, nil, mapErr(err, "reading snapshot revision")
	}
	var items []Item
	for i, kind := range Kinds {
		for name, v := range all[i].Val() {
			it, err := s.decodeValue(kind, name, v)
			if err != nil {
				return 0, nil, err
			}
			items = append(items, it)
		}
	}
	return rev, items, nil
}
