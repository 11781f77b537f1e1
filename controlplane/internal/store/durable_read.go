package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// readDurableScript reads keys atomically with the store's epoch and the primary's clock.
//
// KEYS: epoch, restore marks, then the keys to read. ARGV: per key, a count of hash
// fields, then the fields (0: the whole key). Returns {epoch or "", {sec, usec}, marks
// exist (0|1), then per key {type, pttl, values}}: a whole hash field, value, ...; some
// fields of a hash field, present (0|1), value, ...; a zset member, score, ...
var readDurableScript = redis.NewScript(`
local out = {redis.call('GET', KEYS[1]) or '', redis.call('TIME'), redis.call('EXISTS', KEYS[2])}
local a = 1
for i = 3, #KEYS do
  local k = KEYS[i]
  local n = tonumber(ARGV[a])
  local t = redis.call('TYPE', k)
  if type(t) == 'table' then t = t['ok'] end
  local v = {}
  if n > 0 then
    for j = a + 1, a + n do
      local x = redis.call('HGET', k, ARGV[j])
      if x then v[#v + 1] = ARGV[j]; v[#v + 1] = 1; v[#v + 1] = x
      else v[#v + 1] = ARGV[j]; v[#v + 1] = 0; v[#v + 1] = '' end
    end
  elseif t == 'string' then v = {redis.call('GET', k)}
  elseif t == 'hash' then v = redis.call('HGETALL', k)
  elseif t == 'set' then v = redis.call('SMEMBERS', k)
  elseif t == 'zset' then v = redis.call('ZRANGE', k, 0, -1, 'WITHSCORES')
  end
  a = a + 1 + n
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

// readDurable reads targets (none: only the epoch) in one script.
func (s *Store) readDurable(ctx context.Context, targets []target) (durableRead, error) {
	keys := []string{s.keys.Epoch(), s.keys.RestoreMarks()}
	var args []any
	for _, t := range targets {
		keys = append(keys, t.Key)
		args = append(args, len(t.Fields))
		for _, f := range t.Fields {
			args = append(args, f)
		}
	}
	res, err := readDurableScript.Run(unmirrored(ctx), s.rdb, keys, args...).Slice()
	if err != nil {
		return durableRead{}, mapErr(err, "reading durable state")
	}
	if len(res) != 3+len(targets) {
		return durableRead{}, fmt.Errorf("reading durable state: %d replies for %d keys", len(res), len(targets))
	}
	r := durableRead{epoch: replyStr(res[0]), restoring: replyInt(res[2]) == 1, copies: make(map[string]copyOf, len(targets))}
	now, _ := res[1].([]any)
	if len(now) != 2 {
		return durableRead{}, fmt.Errorf("reading durable state: bad TIME reply %v", res[1])
	}
	mark := replyInt(now[0])*1_000_000 + replyInt(now[1])
	for i, t := range targets {
		kv, _ := res[3+i].([]any)
		if len(kv) != 3 {
			return durableRead{}, fmt.Errorf("reading durable state: bad reply for %s", t.Key)
		}
		vals, _ := kv[2].([]any)
		r.copies[t.Key] = decodeCopy(mark, replyStr(kv[0]), replyInt(kv[1]), vals, len(t.Fields) > 0)
	}
	return r, nil
}

// decodeCopy makes a copy from one key's reply.
func decodeCopy(mark int64, typ string, ttl int64, vals []any, partial bool) copyOf {
	c := copyOf{mark: mark, typ: typ, partial: partial}
	if ttl >= 0 && typ != "none" {
		c.expireAt = mark/1000 + ttl
	}
	switch {
	case partial:
		c.typ = "hash"
		c.fields = map[string]fieldCopy{}
		for j := 0; j+2 < len(vals); j += 3 {
			c.fields[replyStr(vals[j])] = fieldCopy{mark: mark, value: replyStr(vals[j+2]), gone: replyInt(vals[j+1]) == 0}
		}
	case typ == "hash":
		c.whole = mark
		c.fields = map[string]fieldCopy{}
		for j := 0; j+1 < len(vals); j += 2 {
			c.fields[replyStr(vals[j])] = fieldCopy{mark: mark, value: replyStr(vals[j+1])}
		}
	default:
		for _, v := range vals {
			c.values = append(c.values, replyStr(v))
		}
	}
	return c
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
