package store

import "github.com/redis/go-redis/v9"

// luaLib is the one body every versioned write shares, prepended to each script (newScript).
// A stored value is "<version>:<payload>"; the version is the config revision that wrote it
// for config kinds, a per-entry write count for metadata hashes. Failures are raised with
// error(code, 0), a plain string, before anything is written: redis-server and the --dev
// store's Lua (miniredis) both report it with the EDGEPLANE_* code in the message, which
// mapErr matches (an error table, {err = code}, works on redis-server only).
//
//   - ep_check(hash, name, pre, want) returns the version stored for name (0 if none), after
//     checking pre (create: must not exist; exists: must exist; any) and want (an expected
//     version, "" for any; a version requires the entry to exist).
//   - ep_live(revkey, fresh) refuses a store without a revision (wiped) unless fresh is "1".
//   - ep_set(hash, name, op, v, payload) writes (op "put") or deletes (op "del") an entry.
//   - ep_versioned(hash, name, op, want, payload) is a metadata write: op create|put|del,
//     returns the new version (the deleted one for del).
//   - ep_log(logkey, maxlen, rev, op, kind, name, data) appends a changelog entry at rev,
//     chained (ep_chain) to the entry before it.
//   - ep_chain(logkey, rev) returns a mark unique to this write ("at": the primary's clock in
//     microseconds and rev) and the mark of the changelog's last entry ("prev", "" if none).
//     A replica that applied an entry whose mark is not the next entry's prev followed a
//     history the store no longer has (a failover lost writes and their revisions were
//     reused; see state.errDiverged). Effects replication (Redis 7) makes TIME safe here.
const luaLib = `
local function ep_fail(code) error(code, 0) end
local function ep_check(hash, name, pre, want)
  local cur = redis.call('HGET', hash, name)
  if pre == 'create' and cur then ep_fail('` + errReplyExists + `') end
  if (pre == 'exists' or want ~= '') and not cur then ep_fail('` + errReplyNotFound + `') end
  local v = 0
  if cur then v = tonumber(string.match(cur, '^(%d+):')) end
  if want ~= '' and tostring(v) ~= want then ep_fail('` + errReplyConflict + `') end
  return v
end
local function ep_live(revkey, fresh)
  if fresh ~= '1' and redis.call('EXISTS', revkey) == 0 then ep_fail('` + errReplyWiped + `') end
end
local function ep_set(hash, name, op, v, payload)
  if op == 'del' then
    redis.call('HDEL', hash, name)
  else
    redis.call('HSET', hash, name, v .. ':' .. payload)
  end
end
local function ep_versioned(hash, name, op, want, payload)
  local pre = 'exists'
  if op == 'create' then pre = 'create' end
  local v = ep_check(hash, name, pre, want)
  if op == 'del' then
    ep_set(hash, name, 'del')
    return v
  end
  ep_set(hash, name, 'put', v + 1, payload)
  return v + 1
end
local function ep_chain(logkey, rev)
  local now = redis.call('TIME')
  local at = now[1] .. string.format('%06d', now[2]) .. '.' .. rev
  local prev = ''
  local last = redis.call('XREVRANGE', logkey, '+', '-', 'COUNT', 1)
  if last[1] then
    local f = last[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'at' then prev = f[i + 1] end
    end
  end
  return at, prev
end
local function ep_log(logkey, maxlen, rev, op, kind, name, data)
  local at, prev = ep_chain(logkey, rev)
  redis.call('XADD', logkey, 'MAXLEN', '~', maxlen, rev .. '-0', 'op', op, 'kind', kind, 'name', name, 'data', data,
    'at', at, 'prev', prev)
end
`

// newScript returns a script whose body runs after luaLib.
func newScript(body string) *redis.Script { return redis.NewScript(luaLib + body) }
