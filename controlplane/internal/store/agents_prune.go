package store

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// pruneScript deletes an agent's status only if it is still the value read (a session that
// wrote since keeps it), with its owner.
//
// KEYS: agents hash, owners hash. ARGV: node id, the status read.
var pruneScript = redis.NewScript(`
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
return 0
`)

// PruneAgents deletes the statuses of agents last seen before before and returns how many.
func (s *Store) PruneAgents(ctx context.Context, before time.Time) (int, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys.agents).Result()
	if err != nil {
		return 0, mapErr(err, "reading agents")
	}
	n := 0
	for node, v := range all {
		a := &edgeplanev1.Agent{}
		if proto.Unmarshal([]byte(v), a) != nil || !a.GetLastSeen().AsTime().Before(before) {
			continue
		}
		deleted, err := pruneScript.Run(ctx, s.rdb, []string{s.keys.agents, s.keys.agentOwners}, node, v).Int()
		if err != nil {
			return n, mapErr(err, fmt.Sprintf("pruning agent %q", node))
		}
		n += deleted
	}
	return n, nil
}
