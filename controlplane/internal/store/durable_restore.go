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
// (0|1), value count, values (a hash: field, mark, gone, value, ... for each field).
//
// A hash is merged field by field, any other key as a whole: a later copy already
// restored wins (marks hold "<key>" or "<key>\n<field>" -> mark); a key or field that
// exists without a mark was written after the wipe and is kept (a bitmap is ORed with the
// copy); otherwise the copy is written, or deleted if a tombstone. Returns {restored
// (0|1), the store's epoch}.
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
local nowus = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now = math.floor(nowus / 1000)
local a = 4
for i = 4, #KEYS do
  local k = KEYS[i]
  local mark, gone, typ, exp, bits, n = ARGV[a], ARGV[a + 1], ARGV[a + 2], tonumber(ARGV[a + 3]), ARGV[a + 4], tonumber(ARGV[a + 5])
  local v0 = a + 6
  a = v0 + n
  if typ == 'hash' then
    -- mark is the copy's whole-read mark: fields it does not list were absent then.
    local fresh = redis.call('EXISTS', k) == 0
    local wname = k .. '\n'
    local prevW = tonumber(redis.call('HGET', KEYS[2], wname) or '0')
    local listed = {}
    for j = v0, v0 + n - 4, 4 do
      local f, fm, fg, fv = ARGV[j], tonumber(ARGV[j + 1]), ARGV[j + 2], ARGV[j + 3]
      listed[f] = true
      local name = k .. '\n' .. f
      local prev = redis.call('HGET', KEYS[2], name)
      local seen = tonumber(prev or prevW)
      if not prev and prevW == 0 and redis.call('HEXISTS', k, f) == 1 then
        redis.call('HSET', KEYS[2], name, nowus) -- written since the wipe: kept
      elseif fm > seen then
        if fg == '1' then redis.call('HDEL', k, f) else redis.call('HSET', k, f, fv) end
        redis.call('HSET', KEYS[2], name, fm)
      end
    end
    local w = tonumber(mark)
    if w > prevW then
      for _, f in ipairs(redis.call('HKEYS', k)) do
        local fm = redis.call('HGET', KEYS[2], k .. '\n' .. f)
        if not listed[f] and fm and tonumber(fm) < w then
          redis.call('HDEL', k, f)
          redis.call('HSET', KEYS[2], k .. '\n' .. f, w)
        end
      end
      redis.call('HSET', KEYS[2], wname, w)
    end
    if exp > 0 and exp <= now then
      redis.call('DEL', k)
    elseif exp > 0 and fresh then
      redis.call('PEXPIREAT', k, exp)
    end
  else
    -- a hash restored field by field and then found deleted has only "<key>\n"
    local prev = redis.call('HGET', KEYS[2], k) or redis.call('HGET', KEYS[2], k .. '\n')
    local newer = not prev or tonumber(prev) < tonumber(mark)
    if not newer then
      -- a later copy is in
    elseif not prev and redis.call('EXISTS', k) == 1 then
      if gone ~= '1' and typ == 'string' and bits == '1' then
        redis.call('SET', KEYS[3], ARGV[v0])
        redis.call('BITOP', 'OR', k, k, KEYS[3])
        redis.call('DEL', KEYS[3])
      elseif gone ~= '1' and typ == 'string' then
        redis.call('SET', k, ARGV[v0], 'KEEPTTL')
      elseif gone ~= '1' and typ == 'set' then
        for j = v0, v0 + n - 1 do redis.call('SADD', k, ARGV[j]) end
      elseif gone ~= '1' and typ == 'zset' then
        for j = v0, v0 + n - 2, 2 do redis.call('ZADD', k, 'NX', ARGV[j + 1], ARGV[j]) end
      end
      redis.call('HSET', KEYS[2], k, nowus)
    else
      redis.call('DEL', k)
      if gone ~= '1' and (exp == 0 or exp > now) then
        if typ == 'string' then
          redis.call('SET', k, ARGV[v0])
        elseif typ == 'set' then
          for j = v0, v0 + n - 1 do redis.call('SADD', k, ARGV[j]) end
        elseif typ == 'zset' then
          for j = v0, v0 + n - 2, 2 do redis.call('ZADD', k, ARGV[j + 1], ARGV[j]) end
        end
        if exp > 0 then redis.call('PEXPIREAT', k, exp) end
      end
      redis.call('HSET', KEYS[2], k, mark)
      if gone == '1' then redis.call('HSET', KEYS[2], k .. '\n', mark) end
    end
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
		if c.typ == "hash" {
			args = append(args, c.whole, gone, c.typ, c.expireAt, bits, 4*len(c.fields))
			for f, fc := range c.fields {
				fg := "0"
				if fc.gone {
					fg = "1"
				}
				args = append(args, f, fc.mark, fg, fc.value)
			}
			continue
		}
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
