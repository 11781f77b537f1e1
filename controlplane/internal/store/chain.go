package store

import (
	"context"

	"github.com/redis/go-redis/v9"
)

// chainLua sets `at` to a mark unique to this write (the primary's clock in microseconds
// and the revision) and `prev` to the mark of the changelog's last entry (KEYS[3]), "" if
// none. A replica that applied an entry whose mark is not the next entry's prev followed a
// history the store no longer has: a failover lost writes it had seen, and their revisions
// were used again (see state.errDiverged). Effects replication (Redis 7) makes TIME safe.
const chainLua = `
local now = redis.call('TIME')
local at = now[1] .. string.format('%06d', now[2]) .. '.' .. rev
local prev = ''
local last = redis.call('XREVRANGE', KEYS[3], '+', '-', 'COUNT', 1)
if last[1] then
  local f = last[1][2]
  for i = 1, #f, 2 do
    if f[i] == 'at' then prev = f[i + 1] end
  end
end`

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
