package store

import (
	"context"
	"fmt"
	"sort"
)

// named is a stored message ordered by name.
type named interface{ GetName() string }

// getVersioned reads one "<version>:<payload>" value of hash key and decodes it.
// model.ErrNotFound if it does not exist.
func getVersioned[T any](ctx context.Context, s *Store, key, kind, name string, decode func(name, v string) (T, error)) (T, error) {
	v, err := s.rdb.HGet(ctx, key, name).Result()
	if err != nil {
		var zero T
		return zero, mapErr(err, fmt.Sprintf("reading %s %q", kind, name))
	}
	return decode(name, v)
}

// listVersioned reads and decodes every value of hash key, ordered by name.
func listVersioned[T named](ctx context.Context, s *Store, key, kind string, decode func(name, v string) (T, error)) ([]T, error) {
	all, err := s.rdb.HGetAll(ctx, key).Result()
	if err != nil {
		return nil, mapErr(err, "listing "+kind+"s")
	}
	out := make([]T, 0, len(all))
	for name, v := range all {
		m, err := decode(name, v)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
	return out, nil
}
