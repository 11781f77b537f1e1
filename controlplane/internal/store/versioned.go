package store

import (
	"context"
	"fmt"
	"sort"
	"strconv"
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

// versionedScript creates, replaces or deletes one metadata entry (certificates' metadata,
// Docker service definitions), fenced by a lock when a token is given.
//
// KEYS: the hash, then the lock key when fenced. ARGV: name, op (create|put|del), expected
// version ("" = any), payload, lock token ("" = not fenced). Returns the new version (the
// deleted one for del).
var versionedScript = newScript(`
if ARGV[5] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[5] then
  return redis.error_reply('` + errReplyFenced + `')
end
return ep_versioned(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
`)

// runVersioned runs versionedScript; keys is the hash, then the lock key when token is set.
func (s *Store) runVersioned(ctx context.Context, keys []string, name, op string, ifVersion int64, payload []byte, token string) (int64, error) {
	ifv := ""
	if ifVersion != 0 {
		ifv = strconv.FormatInt(ifVersion, 10)
	}
	if token == "" {
		keys = keys[:1]
	}
	return versionedScript.Run(ctx, s.rdb, keys, name, op, ifv, payload, token).Int64()
}
