package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// RestoreWindow is how long after a wipe replicas may put back their copies of the durable
// state; port leases are refused meanwhile. A replica notices a wipe within a second
// (RunDurable) or at once when another announces its restore.
const RestoreWindow = 5 * time.Second

// restoreDurableScript puts a replica's copies of the durable keys back into a wiped store.
// The first replica to run it opens the window (a new epoch, the marks hash); others may
// merge their copies while it is open, if they follow the same history.
//
// KEYS: epoch, marks, scratch, then the keys. ARGV: new epoch, window ms, the epoch the
// copies belong to, then per key: mark, gone (0|1), type, expiry (Unix ms, 0 none), bitmap
// (0|1), value count, values.
//
// Per key: a later copy already restored wins; a key that exists without a mark was
// written after the wipe and is merged with the copy (its own fields win; bitmaps are
// ORed); otherwise the copy replaces it. A tombstone deletes. Returns {restored (0|1),
// the store's epoch}.
var restoreDurableScript = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], ARGV[1])
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], '_from', ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[2])
elseif redis.call('HGET', KEYS[2], '_from') ~= ARGV[3] then
  return {0, cur}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local a = 4
for i = 4, #KEYS do
  local k = KEYS[i]
  local mark, gone, typ, exp, bits, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], tonumber(ARGV[a + 5])
  local v0 = a + 6
  a = v0 + n
  local prev = redis.call('HGET', KEYS[2], k)
  if prev and tonumber(prev) >= tonumber(mark) then
    -- a later copy is in
  elseif not prev and redis.call('EXISTS', k) == 1 then
    if gone ~= '1' then
      if typ == 'string' and bits == '1' then
        redis.call('SET', KEYS[3], ARGV[v0])
        redis.call('BITOP', 'OR', k, k, KEYS[3])
        redis.call('DEL', KEYS[3])
      elseif typ == 'string' then
        redis.call('SET', k, ARGV[v0], 'KEEPTTL')
      elseif typ == 'hash' then
        for j = v0, v0 + n - 2, 2 do redis.call('HSETNX', k, ARGV[j], ARGV[j + 1]) end
      elseif typ == 'set' then
        for j = v0, v0 + n - 1 do redis.call('SADD', k, ARGV[j]) end
      elseif typ == 'zset' then
        for j = v0, v0 + n - 2, 2 do redis.call('ZADD', k, 'NX', ARGV[j + 1], ARGV[j]) end
      end
    end
    redis.call('HSET', KEYS[2], k, mark)
  else
    redis.call('DEL', k)
    if gone ~= '1' and (exp == 0 or exp > now) then
      if typ == 'string' then
        redis.call('SET', k, ARGV[v0])
      elseif typ == 'hash' then
        for j = v0, v0 + n - 2, 2 do redis.call('HSET', k, ARGV[j], ARGV[j + 1]) end
      elseif typ == 'set' then
        for j = v0, v0 + n - 1 do redis.call('SADD', k, ARGV[j]) end
      elseif typ == 'zset' then
        for j = v0, v0 + n - 2, 2 do redis.call('ZADD', k, ARGV[j + 1], ARGV[j]) end
      end
      if exp > 0 then redis.call('PEXPIREAT', k, exp) end
    end
    redis.call('HSET', KEYS[2], k, mark)
  end
end
return {1, redis.call('GET', KEYS[1])}
`)

// restoreDurable puts copies (of the history from) back into a store that lost its epoch.
// It reports whether it could (false: the window of that wipe has closed, or the store
// follows another history) and the store's epoch afterwards.
func (s *Store) restoreDurable(ctx context.Context, from string, copies map[string]copyOf) (bool, string, error) {
	keys := []string{s.keys.Epoch(), s.keys.RestoreMarks(), s.keys.RestoreScratch()}
	args := []any{newEpoch(), RestoreWindow.Milliseconds(), from}
	for k, c := range copies {
		gone, bits := "0", "0"
		if c.typ == "none" {
			gone = "1"
		}
		if s.bitmap(k) {
			bits = "1"
		}
		keys = append(keys, k)
		args = append(args, c.mark, gone, c.typ, c.expireAt, bits, len(c.values))
		for _, v := range c.values {
			args = append(args, v)
		}
	}
	res, err := restoreDurableScript.Run(unmirrored(ctx), s.rdb, keys, args...).Slice()
	if err != nil {
		return false, "", mapErr(err, "restoring durable state")
	}
	if len(res) != 2 {
		return false, "", mapErr(redis.Nil, "restoring durable state")
	}
	return replyInt(res[0]) == 1, replyStr(res[1]), nil
}

func newEpoch() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
