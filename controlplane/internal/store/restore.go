package store

import (
	"context"
	"fmt"
	"github.com/redis/go-redis/v9"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// restoreScript puts a replica's in-memory config back into a wiped store, unless another
// replica (or a fresh write) got there first.
//
// KEYS: revision, routes hash. ARGV: revision, then name and stored value pairs.
var restoreScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1])
for i = 2, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
return 1
`)

// Restore writes rev and routes into a store that has no revision (a Redis that restarted
// without persistence), so the fleet keeps its config. It reports whether it restored;
// false means the store had a revision already and nothing was written.
func (s *Store) Restore(ctx context.Context, rev int64, routes []*edgeplanev1.Route) (bool, error) {
	args := make([]any, 0, 1+2*len(routes))
	args = append(args, rev)
	for _, r := range routes {
		payload, err := MarshalRoute(r)
		if err != nil {
			return false, err
		}
		args = append(args, r.GetName(), fmt.Sprintf("%d:%s", r.GetRevision(), payload))
	}
	n, err := restoreScript.Run(ctx, s.rdb, []string{s.keys.revision, s.keys.routes}, args...).Int()
	if err != nil {
		return false, mapErr(err, "restoring the config")
	}
	return n == 1, nil
}
