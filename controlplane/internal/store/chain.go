package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// advanceScript raises the revision to at least ARGV[1] and returns it.
var advanceScript = redis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]) or '0')
local floor = tonumber(ARGV[1])
if cur < floor then
  redis.call('SET', KEYS[1], floor)
  return floor
end
return cur
`)

// Advance raises the store's revision to at least floor (no changelog entry) and returns
// it. A replica calls it when the store lost revisions it had seen (a failover that lost
// writes), so the config it reloads has a revision above every one agents have applied.
func (s *Store) Advance(ctx context.Context, floor int64) (int64, error) {
	rev, err := advanceScript.Run(ctx, s.rdb, []string{s.keys.revision}, floor).Int64()
	return rev, mapErr(err, "advancing the revision")
}
