package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// readDurableScript reads keys atomically with the store's epoch and the primary's clock.
//
// KEYS: epoch, restore marks, then the keys to read. Returns {epoch or "", {sec, usec},
// marks exist (0|1), then per key {type, pttl, values}} (hash: field, value, ...; zset:
// member, score, ...).
var readDurableScript = redis.NewScript(`
local out = {redis.call('GET', KEYS[1]) or '', redis.call('TIME'), redis.call('EXISTS', KEYS[2])}
for i = 3, #KEYS do
  local k = KEYS[i]
  local t = redis.call('TYPE', k)
  if type(t) == 'table' then t = t['ok'] end
  local v = {}
  if t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  end
  out[#out + 1] = {t, redis.call('PTTL', k), v}
end
return out
`)

// durableRead is one atomic read of durable keys.
type durableRead struct {
	epoch     string
	restoring bool // the restore window of a wipe is open
	copies    map[string]copyOf
}

// readDurable reads keys (none: only the epoch) in one script.
func (s *Store) readDurable(ctx context.Context, keys []string) (durableRead, error) {
	all := append([]string{s.keys.Epoch(), s.keys.RestoreMarks()}, keys...)
	res, err := readDurableScript.Run(unmirrored(ctx), s.rdb, all).Slice()
	if err != nil {
		return durableRead{}, mapErr(err, "reading durable state")
	}
	if len(res) != 3+len(keys) {
		return durableRead{}, fmt.Errorf("reading durable state: %d replies for %d keys", len(res), len(keys))
	}
	r := durableRead{epoch: replyStr(res[0]), restoring: replyInt(res[2]) == 1, copies: make(map[string]copyOf, len(keys))}
	now, _ := res[1].([]any)
	if len(now) != 2 {
		return durableRead{}, fmt.Errorf("reading durable state: bad TIME reply %v", res[1])
	}
	mark := replyInt(now[0])*1_000_000 + replyInt(now[1])
	for i, k := range keys {
		kv, _ := res[3+i].([]any)
		if len(kv) != 3 {
			return durableRead{}, fmt.Errorf("reading durable state: bad reply for %s", k)
		}
		c := copyOf{mark: mark, typ: replyStr(kv[0])}
		if ttl := replyInt(kv[1]); ttl >= 0 && c.typ != "none" {
			c.expireAt = mark/1000 + ttl
		}
		vals, _ := kv[2].([]any)
		for _, v := range vals {
			c.values = append(c.values, replyStr(v))
		}
		r.copies[k] = c
	}
	return r, nil
}

// replyStr and replyInt read a script's reply values (strings, or integers as Redis returns them).
func replyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case int64:
		return fmt.Sprint(x)
	}
	return ""
}

func replyInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		var n int64
		fmt.Sscan(x, &n)
		return n
	}
	return 0
}
