package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// restoreScript puts a replica's in-memory config back into a wiped store, unless another
// replica (or a fresh write) got there first.
//
// KEYS: revision, then the hash of each item. ARGV: revision, then name and stored value
// of each item, in KEYS order.
var restoreScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
for i = 2, #KEYS do
  redis.call('HSET', KEYS[i], ARGV[2 * i - 2], ARGV[2 * i - 1])
end
return 1
`)

// Restore writes rev and items into a store that has no revision (a Redis that restarted
// without persistence), so the fleet keeps its config. It reports whether it restored;
// false means the store had a revision already and nothing was written.
func (s *Store) Restore(ctx context.Context, rev int64, items []Item) (bool, error) {
	keys := make([]string, 1, 1+len(items))
	keys[0] = s.keys.revision
	args := make([]any, 0, 1+2*len(items))
	args = append(args, rev)
	for _, it := range items {
		hash, err := s.hashFor(it.Kind)
		if err != nil {
			return false, err
		}
		payload, err := s.Encode(it.Kind, it.Value)
		if err != nil {
			return false, err
		}
		keys = append(keys, hash)
		args = append(args, it.Name, fmt.Sprintf("%d:%s", it.Revision, payload))
	}
	n, err := restoreScript.Run(ctx, s.rdb, keys, args...).Int()
	if err != nil {
		return false, mapErr(err, "restoring the config")
	}
	return n == 1, nil
}
