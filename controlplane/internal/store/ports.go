package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Port leases live in three keys:
//   - {ns}:ports         hash "<host>/<port, 5 digits>" -> {"purpose","owner","time"} (JSON)
//   - {ns}:ports:owners  hash "<host>/<purpose>/<owner>" -> port
//   - {ns}:ports:used:<host>  bitmap, bit N set while port N is leased on that host
//
// Both scripts touch all three at once, so a lease, its owner index and its bit never
// disagree, and two replicas can never lease the same port: Redis runs one script at a time.

// leaseScript returns the owner's lease, or leases the first free port at or after
// ARGV[6] (wrapping within ARGV[4]-ARGV[5]) that is not in an excluded range.
//
// KEYS: ports, owners, used bitmap of the host, the store's epoch, the restore marks.
// ARGV: host, purpose, owner, lo, hi, start, strict ("1": only start will do), time (unix
// ms), excluded ranges ("a-b,c-d"), the epoch the replica's durable mirror follows ("":
// none, not checked).
// Returns {port, created (0|1), lease JSON}. Refused (EDGEPLANE_WIPED) while the store was
// wiped and its leases are not all back: its epoch is not the mirror's, or replicas are
// still putting back their copies (durable.go).
var leaseScript = redis.NewScript(`
if ARGV[10] ~= '' and (redis.call('GET', KEYS[4]) ~= ARGV[10] or redis.call('EXISTS', KEYS[5]) == 1) then
  return redis.error_reply('` + errReplyWiped + `')
end
local host, purpose, owner = ARGV[1], ARGV[2], ARGV[3]
local lo, hi, start = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local ofield = host .. '/' .. purpose .. '/' .. owner
local function pfield(p) return host .. '/' .. string.format('%05d', p) end
local have = redis.call('HGET', KEYS[2], ofield)
if have then
  local p = tonumber(have)
  return {p, 0, redis.call('HGET', KEYS[1], pfield(p)) or ''}
end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SETBIT', KEYS[3], 65535, 0)
end
local ex = {}
for a, b in string.gmatch(ARGV[9], '(%d+)-(%d+)') do
  ex[#ex + 1] = {tonumber(a), tonumber(b)}
end
local function excludedUntil(p)
  for _, r in ipairs(ex) do
    if p >= r[1] and p <= r[2] then return r[2] end
  end
  return nil
end
-- The first clear bit in [pos, to]: bit by bit up to a byte boundary, then BITPOS over
-- whole bytes (byte ranges work on every Redis 7 and on the embedded dev store).
local function firstFree(pos, to)
  while pos <= to and pos % 8 ~= 0 do
    if redis.call('GETBIT', KEYS[3], pos) == 0 then return pos end
    pos = pos + 1
  end
  if pos > to then return nil end
  local p = redis.call('BITPOS', KEYS[3], 0, math.floor(pos / 8), math.floor(to / 8))
  if p < 0 or p > to then return nil end
  return p
end
local function scan(from, to)
  local pos = from
  while pos <= to do
    local p = firstFree(pos, to)
    if not p then return nil end
    local e = excludedUntil(p)
    if not e then return p end
    pos = e + 1
  end
  return nil
end
local p
if ARGV[7] == '1' then
  if redis.call('GETBIT', KEYS[3], start) == 1 then
    local cur = cjson.decode(redis.call('HGET', KEYS[1], pfield(start)) or '{}')
    return redis.error_reply('` + errReplyExists + ` port ' .. start .. ' on ' .. host .. ' is leased to ' .. tostring(cur.owner))
  end
  p = start
else
  p = scan(start, hi)
  if not p and start > lo then p = scan(lo, start - 1) end
  if not p then return redis.error_reply('` + errReplyExhausted + `') end
end
local lease = cjson.encode({purpose = purpose, owner = owner, time = ARGV[8]})
redis.call('SETBIT', KEYS[3], p, 1)
redis.call('HSET', KEYS[1], pfield(p), lease)
redis.call('HSET', KEYS[2], ofield, p)
return {p, 1, lease}
`)

// releaseScript ends a lease named by port (ARGV[2]) or, when that is empty, by purpose
// and owner.
//
// KEYS: ports, owners, used bitmap of the host.
// ARGV: host, port or "", purpose, owner ("" = any, with a port).
// Returns {port, lease JSON}.
var releaseScript = redis.NewScript(`
local host = ARGV[1]
local p = ARGV[2]
if p == '' then
  p = redis.call('HGET', KEYS[2], host .. '/' .. ARGV[3] .. '/' .. ARGV[4])
  if not p then return redis.error_reply('` + errReplyNotFound + `') end
end
p = tonumber(p)
local field = host .. '/' .. string.format('%05d', p)
local v = redis.call('HGET', KEYS[1], field)
if not v then return redis.error_reply('` + errReplyNotFound + `') end
local lease = cjson.decode(v)
if ARGV[4] ~= '' and lease.owner ~= ARGV[4] then
  return redis.error_reply('` + errReplyNotOwner + ` port ' .. p .. ' on ' .. host .. ' is leased to ' .. lease.owner)
end
redis.call('HDEL', KEYS[1], field)
redis.call('HDEL', KEYS[2], host .. '/' .. lease.purpose .. '/' .. lease.owner)
redis.call('SETBIT', KEYS[3], p, 0)
return {p, v}
`)

// Script error replies of the port scripts.
const (
	errReplyExhausted = "EDGEPLANE_EXHAUSTED"
	errReplyNotOwner  = "EDGEPLANE_NOTOWNER"
)

// PortLease is one leased port.
type PortLease struct {
	Host    string
	Port    int
	Purpose string
	Owner   string
	Time    time.Time // when it was leased
}

// Key orders leases by host, then port (PortLeases' order), for page tokens.
func (l PortLease) Key() string { return fmt.Sprintf("%s/%05d", l.Host, l.Port) }

// LeaseRequest asks for a port on Host for Purpose and Owner, in Lo-Hi. The search starts at
// Start and wraps around; with Strict only Start will do. Ports in Excluded are skipped.
type LeaseRequest struct {
	Host, Purpose, Owner string
	Lo, Hi, Start        int
	Strict               bool
	Excluded             [][2]int // inclusive ranges
}

type leaseJSON struct {
	Purpose string `json:"purpose"`
	Owner   string `json:"owner"`
	Time    string `json:"time"` // unix milliseconds
}

// LeasePort returns Owner's lease for Purpose on Host if there is one (created false), or
// leases a free port (created true), atomically. Errors: model.ErrExhausted when no port
// is free; with Strict, model.ErrAlreadyExists when Start is leased to another owner.
func (s *Store) LeasePort(ctx context.Context, r LeaseRequest) (PortLease, bool, error) {
	strict := ""
	if r.Strict {
		strict = "1"
	}
	var ex strings.Builder
	for _, e := range r.Excluded {
		fmt.Fprintf(&ex, "%d-%d,", e[0], e[1])
	}
	what := fmt.Sprintf("leasing a %s port for %q on %s", r.Purpose, r.Owner, r.Host)
	if s.fenced() {
		return PortLease{}, false, fmt.Errorf("%s: %w", what, errFenced)
	}
	keys := append(s.portKeys(r.Host), s.keys.Epoch(), s.keys.RestoreMarks())
	res, err := leaseScript.Run(unmirrored(ctx), s.rdb, keys, r.Host, r.Purpose, r.Owner, r.Lo, r.Hi, r.Start,
		strict, clock.Now().UnixMilli(), ex.String(), s.DurableEpoch()).Slice()
	if err != nil {
		return PortLease{}, false, portErr(err, what)
	}
	if len(res) != 3 {
		return PortLease{}, false, fmt.Errorf("%s: unexpected reply %v", what, res)
	}
	port, _ := res[0].(int64)
	created, _ := res[1].(int64)
	raw, _ := res[2].(string)
	if created == 1 {
		s.capture(ctx, s.leaseTargets(r.Host, r.Purpose, r.Owner, int(port)))
	}
	l, err := decodeLease(r.Host, int(port), raw)
	return l, created == 1, err
}

// ReleasePort ends the lease of port on host. With owner set, only that owner's lease is
// released (model.ErrFailedPrecondition otherwise). model.ErrNotFound without a lease.
func (s *Store) ReleasePort(ctx context.Context, host string, port int, owner string) (PortLease, error) {
	return s.release(ctx, fmt.Sprintf("releasing port %d on %s", port, host), host, strconv.Itoa(port), "", owner)
}

// ReleaseOwnerPort ends owner's lease for purpose on host. model.ErrNotFound without one.
func (s *Store) ReleaseOwnerPort(ctx context.Context, host, purpose, owner string) (PortLease, error) {
	return s.release(ctx, fmt.Sprintf("releasing the %s port of %q on %s", purpose, owner, host), host, "", purpose, owner)
}

func (s *Store) release(ctx context.Context, what, host, port, purpose, owner string) (PortLease, error) {
	if s.fenced() {
		return PortLease{}, fmt.Errorf("%s: %w", what, errFenced)
	}
	res, err := releaseScript.Run(unmirrored(ctx), s.rdb, s.portKeys(host), host, port, purpose, owner).Slice()
	if err != nil {
		return PortLease{}, portErr(err, what)
	}
	if len(res) != 2 {
		return PortLease{}, fmt.Errorf("%s: unexpected reply %v", what, res)
	}
	p, _ := res[0].(int64)
	raw, _ := res[1].(string)
	l, err := decodeLease(host, int(p), raw)
	if err == nil {
		s.capture(ctx, s.leaseTargets(host, l.Purpose, l.Owner, l.Port))
	}
	return l, err
}

// leaseTargets are what a lease or release changes, for the durable mirror: one field of
// the leases and of the owners, and the host's bitmap (the scripts run unmirrored so the
// mirror reads these fields, not the whole hashes).
func (s *Store) leaseTargets(host, purpose, owner string, port int) []target {
	return []target{
		{Key: s.keys.ports, Fields: []string{fmt.Sprintf("%s/%05d", host, port)}},
		{Key: s.keys.portOwners, Fields: []string{host + "/" + purpose + "/" + owner}},
		{Key: s.keys.PortsUsed(host)},
	}
}

// PortLeases returns every lease, ordered by host, then port.
func (s *Store) PortLeases(ctx context.Context) ([]PortLease, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys.ports).Result()
	if err != nil {
		return nil, mapErr(err, "listing port leases")
	}
	out := make([]PortLease, 0, len(all))
	for field, raw := range all {
		i := strings.LastIndexByte(field, '/')
		port, err := strconv.Atoi(field[i+1:])
		if i < 0 || err != nil {
			return nil, fmt.Errorf("listing port leases: bad field %q", field)
		}
		l, err := decodeLease(field[:i], port, raw)
		if err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out, nil
}

func (s *Store) portKeys(host string) []string {
	return []string{s.keys.ports, s.keys.portOwners, s.keys.PortsUsed(host)}
}

func decodeLease(host string, port int, raw string) (PortLease, error) {
	var j leaseJSON
	if err := json.Unmarshal([]byte(raw), &j); err != nil {
		return PortLease{}, fmt.Errorf("port %d on %s: bad stored lease %q: %w", port, host, raw, err)
	}
	ms, _ := strconv.ParseInt(j.Time, 10, 64)
	return PortLease{Host: host, Port: port, Purpose: j.Purpose, Owner: j.Owner, Time: time.UnixMilli(ms)}, nil
}

// portErr maps the port scripts' replies, keeping their detail (who holds the port).
func portErr(err error, what string) error {
	msg := err.Error()
	detail := func(reply string) string {
		_, d, _ := strings.Cut(msg, reply)
		return strings.TrimSpace(d)
	}
	switch {
	case strings.Contains(msg, errReplyExhausted):
		return fmt.Errorf("%s: %w: every port of the range is leased, reserved or busy", what, model.ErrExhausted)
	case strings.Contains(msg, errReplyNotOwner):
		return fmt.Errorf("%s: %w: %s", what, model.ErrFailedPrecondition, detail(errReplyNotOwner))
	case strings.Contains(msg, errReplyExists):
		return fmt.Errorf("%s: %w: %s", what, model.ErrAlreadyExists, detail(errReplyExists))
	}
	return mapErr(err, what)
}
