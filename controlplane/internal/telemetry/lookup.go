package telemetry

import (
	"context"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/keyspace"
)

// lookupScript finds a trace's entries. KEYS[1]: the stream; KEYS[2..]: one shard of each
// bucket. ARGV[1]: the 16-byte trace id; ARGV[2]: the most entries to return; ARGV[3]: 1 if
// the stream's records are in blocks (a posting's sequence is a requestlog.Ref's packed
// sequence and place), else 0; ARGV[4..]: each bucket's start (unix ms), in KEYS order. It
// returns, oldest bucket first, the posting's id and its entry's fields (the whole block for
// a block: the caller takes the record at the place); postings whose entry was trimmed are
// skipped.
var lookupScript = redis.NewScript(`
local id, limit, packed, size = ARGV[1], tonumber(ARGV[2]), ARGV[3] == '1', 24
local out = {}
for i = 2, #KEYS do
  local s = redis.call('GET', KEYS[i])
  local from = 1
  while s and #out < limit do
    local p = string.find(s, id, from, true)
    if not p then break end
    if (p - 1) % size == 0 then
      local a, b, c, d = string.byte(s, p + 16, p + 19)
      local e, f, g, h = string.byte(s, p + 20, p + 23)
      local ms = tonumber(ARGV[i + 2]) + ((a * 256 + b) * 256 + c) * 256 + d
      local seq = ((e * 256 + f) * 256 + g) * 256 + h
      local sid = string.format('%.0f-%.0f', ms, seq)
      local xid = sid
      if packed then xid = string.format('%.0f-%.0f', ms, math.floor(seq / 65536)) end
      local m = redis.call('XRANGE', KEYS[1], xid, xid)
      if m[1] then out[#out + 1] = {sid, m[1][2]} end
      from = p + size
    else
      from = p + 1
    end
  end
end
return out
`)

// lookup returns stream's entries of traceID whose bucket overlaps (now - retention - one
// bucket, now + one bucket]; now is the Redis server's time, as stream ids are. For a packed
// stream (records in blocks) each is one record, with its record id (requestlog.Ref) and
// values of one compact record (requestlog.Field).
func (x Index) lookup(ctx context.Context, c redis.Scripter, stream, traceID string, now time.Time, packed bool) ([]redis.XMessage, error) {
	var trace [16]byte
	if _, err := hex.Decode(trace[:], []byte(traceID)); err != nil || len(traceID) != 32 {
		return nil, fmt.Errorf("trace id %q is not 32 hex digits", traceID)
	}
	w := x.width().Milliseconds()
	last := now.UnixMilli() + w
	last -= last % w
	first := now.Add(-x.retention()).UnixMilli() - w
	first -= first % w
	keys := []string{stream}
	flag := 0
	if packed {
		flag = 1
	}
	args := []any{string(trace[:]), maxTraceEntries, flag}
	for start := first; start <= last; start += w {
		keys = append(keys, keyspace.TraceBucket(stream, start, trace[0]))
		args = append(args, start)
	}
	v, err := lookupScript.Run(ctx, c, keys, args...).Slice()
	if err != nil {
		return nil, err
	}
	msgs, err := toXMessages(v)
	if err != nil || !packed {
		return msgs, err
	}
	out := msgs[:0]
	seen := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		if rec, ok := pick(m); ok && !seen[rec.ID] {
			seen[rec.ID] = true
			out = append(out, rec)
		}
	}
	return out, nil
}

// toXMessages converts the script's reply (XRANGE's shape) to messages.
func toXMessages(v []any) ([]redis.XMessage, error) {
	out := make([]redis.XMessage, 0, len(v))
	for _, e := range v {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("trace lookup: unexpected reply %T", e)
		}
		id, _ := pair[0].(string)
		kv, _ := pair[1].([]any)
		values := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			values[k] = kv[i+1]
		}
		out = append(out, redis.XMessage{ID: id, Values: values})
	}
	return out, nil
}

// Kept returns how long indexed records stay findable.
func (x Index) Kept() time.Duration { return x.retention() }
