// Package metrics turns the agents' request records into per-window, per-host, per-route
// counters and latency histograms kept in Redis, so any replica can answer GetMetrics.
//
// Agents publish records many to an entry (requestlog.BlockField); per-record work happens
// here in Go, Redis sees one XACK per entry and one HINCRBY per counter and series a batch.
// Counting is exact under redelivery: one Lua call per batch acknowledges each entry (XACK)
// and adds its counts only if that XACK acknowledged it. An entry processed twice (a
// consumer that was presumed dead and whose work was claimed) is counted once. The same
// pass feeds the request stream's indexes (Config.Postings: trace and log search), whose
// postings go in the same Lua call: a block is read and parsed once for all three.
package metrics

import (
	"context"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// Config configures a Processor.
type Config struct {
	// Client writes the counters. Required.
	Client redis.UniversalClient
	// Window is the aggregation window. Default 10s.
	Window time.Duration
	// Retention is how long windows are kept. Default 24h.
	Retention time.Duration
	// Postings, when set, returns an empty batch of the stream's index postings
	// (telemetry.RequestIndex: the trace and log search indexes): each parsed record is
	// added to it, and its strings are appended in the script that counts the batch.
	Postings func(stream string) Postings
	// MaxSeries bounds the (host, route) series of one window: records of further series
	// are counted under host "(other)" with their route, since a client chooses the Host
	// header of an unmatched request. Default 1000.
	MaxSeries int
}

// Postings are the index postings of a batch of records.
type Postings interface {
	// Add posts record r, at ref. Hot: called for every record; r is passed by value so
	// that the caller's record stays on its stack (its text shares the entry's memory).
	Add(ref requestlog.Ref, r requestlog.Record)
	// Strings calls fn for each postings string: its key (in the stream's hash tag), what
	// to append to it and its expiry (unix ms), set when the append creates it.
	Strings(fn func(key string, postings []byte, expireAt int64))
	// Written is called once the strings are appended.
	Written(ctx context.Context) error
}

// Processor aggregates request records; it is a streams.Handler.
type Processor struct {
	cfg Config
}

var _ streams.Handler = (*Processor)(nil)

// New returns a Processor.
func New(cfg Config) *Processor {
	if cfg.Window <= 0 {
		cfg.Window = 10 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.MaxSeries <= 0 {
		cfg.MaxSeries = 1000
	}
	return &Processor{cfg: cfg}
}

// aggregateScript counts a batch of request records and appends its index postings.
// KEYS[1] is the stream; then, per series of the batch, 3 keys: the window's index
// (keyspace.MetricsIndex), the series' counters and the window's overflow series' counters
// (keyspace.MetricsSeries); then the p postings strings. ARGV: group, retention seconds, max
// series, series count n, entry count m, then per series its name and its overflow name,
// then the m entry ids, then per series (in key order) what Go summed: pair count e, field
// count f, f pairs of counter field and sum, and e pairs of an entry's number (1..m) and that
// entry's own counts in the series ("field n field n ..."); then the p postings to append,
// then the p strings' expiries (unix ms).
// Each entry is acknowledged (XACK) once; the rare one that was already acknowledged (a
// consumer presumed dead had its work claimed and counted it) has its own counts taken back
// out of the sums. Each series' sums are then added with one HINCRBY per field. A window's
// index holds at most maxSeries series: a further one counts under its overflow series
// ("(other)" host, same route). Postings are appended whatever was acknowledged (queries drop
// a record's duplicate postings), a string's expiry set when the APPEND creates it. Every key
// shares the stream's hash tag (one Cluster slot). Returns the ids not counted.
//
// Per entry (a block of up to requestlog.MaxBlockRecords records) the script does one XACK
// and one table lookup per series it touches, and one APPEND per postings string a batch:
// summing and grouping in Go is what makes a batch cheap. One script call is also one
// command for Redis to read and answer instead of two per postings string.
var aggregateScript = redis.NewScript(`
local group, ttl, maxSeries, n, m = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local skipped, acked = {}, {}
local base = 6 + 2 * n
for j = 0, m - 1 do
  local id = ARGV[base + j]
  if redis.call('XACK', KEYS[1], group, id) == 1 then
    acked[j + 1] = true
  else
    skipped[#skipped + 1] = id
  end
end
local i = base + m
for g = 1, n do
  local e, nf = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  i = i + 2
  local f = {}
  for j = 0, nf - 1 do
    f[ARGV[i + 2 * j]] = tonumber(ARGV[i + 2 * j + 1])
  end
  i = i + 2 * nf
  local live = 0
  for j = 0, e - 1 do
    if acked[tonumber(ARGV[i + 2 * j])] then
      live = live + 1
    else
      for k, v in string.gmatch(ARGV[i + 2 * j + 1], '(%S+) (%S+)') do
        f[k] = f[k] - tonumber(v)
      end
    end
  end
  i = i + 2 * e
  if live > 0 then
    local idx, key, series = KEYS[3 * g - 1], KEYS[3 * g], ARGV[4 + 2 * g]
    if redis.call('SISMEMBER', idx, series) == 0 and redis.call('SCARD', idx) >= maxSeries then
      key, series = KEYS[3 * g + 1], ARGV[5 + 2 * g]
    end
    for k, v in pairs(f) do
      if v ~= 0 then
        redis.call('HINCRBY', key, k, string.format('%.0f', v))
      end
    end
    redis.call('EXPIRE', key, ttl)
    redis.call('SADD', idx, series)
    redis.call('EXPIRE', idx, ttl)
  end
end
local first, p = 2 + 3 * n, #KEYS - 1 - 3 * n
for j = 0, p - 1 do
  local v = ARGV[i + j]
  if redis.call('APPEND', KEYS[first + j], v) == #v then
    redis.call('PEXPIREAT', KEYS[first + j], ARGV[i + p + j])
  end
end
return skipped
`)

// overflowHost is the host a window's series beyond MaxSeries are counted under.
const overflowHost = "(other)"

// counts are a series' counters, summed in Go.
type counts struct {
	requests, bytesIn, bytesOut, durationUS int64
	class                                   [10]int64
	// buckets are the latency histogram's counts, by bucket; used marks those not zero.
	buckets [maxBuckets]int64
	used    [(maxBuckets + 63) / 64]uint64
}

// add counts r. Hot: called for every record; no map, no allocation.
func (c *counts) add(r *requestlog.Record) {
	c.requests++
	c.class[r.Status/100]++
	b := bucket(r.Duration)
	c.buckets[b]++
	c.used[b/64] |= 1 << (b % 64)
	c.bytesIn += r.BytesIn
	c.bytesOut += r.BytesOut
	c.durationUS += r.Duration.Microseconds()
}

func (c *counts) addCounts(o *counts) {
	c.requests += o.requests
	c.bytesIn += o.bytesIn
	c.bytesOut += o.bytesOut
	c.durationUS += o.durationUS
	for i, n := range o.class {
		c.class[i] += n
	}
	o.eachBucket(func(b int, n int64) {
		c.buckets[b] += n
		c.used[b/64] |= 1 << (b % 64)
	})
}

// eachBucket calls fn for each histogram bucket that counted records, in order.
func (c *counts) eachBucket(fn func(b int, n int64)) {
	for w, u := range c.used {
		for u != 0 {
			b := w*64 + bits.TrailingZeros64(u)
			u &= u - 1
			fn(b, c.buckets[b])
		}
	}
}

// reset empties c, clearing only the buckets it used.
func (c *counts) reset() {
	c.eachBucket(func(b int, _ int64) { c.buckets[b] = 0 })
	c.requests, c.bytesIn, c.bytesOut, c.durationUS = 0, 0, 0, 0
	c.class, c.used = [10]int64{}, [len(c.used)]uint64{}
}

// fields calls fn for each counter field that is not zero (the Redis hash's field names).
func (c *counts) fields(fn func(field string, n int64)) {
	for _, f := range []struct {
		name string
		n    int64
	}{{"requests", c.requests}, {"bytes_in", c.bytesIn}, {"bytes_out", c.bytesOut}, {"duration_us", c.durationUS}} {
		if f.n != 0 {
			fn(f.name, f.n)
		}
	}
	for i, n := range c.class {
		if n != 0 {
			fn("s"+strconv.Itoa(i)+"xx", n)
		}
	}
	c.eachBucket(func(b int, n int64) { fn(bucketFields[b], n) })
}

// bucketFields are the histogram buckets' counter fields: "b<bucket>".
var bucketFields = func() (f [maxBuckets]string) {
	for b := range f {
		f[b] = "b" + strconv.Itoa(b)
	}
	return f
}()

// seriesKey names a series of a batch.
type seriesKey struct {
	win         int64
	host, route string
}

// batch is one script call's keys and arguments under construction.
type batch struct {
	stream string
	keys   []string
	names  []any                 // per series: name, overflow name
	order  []*series             // in key order
	byKey  map[seriesKey]*series // its series
	ids    []any                 // the entries counted, in stream order
	last   *series               // the series of the last record (records come in runs)
	lastK  seriesKey
}

// entry counts (and posts, with post) the records of entry number n, of window win, whose
// values are v, and returns how many parsed. A block's records that do not parse are
// skipped, as requestlog.Each reads them. Hot: the loop runs for every record; the record
// is read into a local (no allocation, no write barrier per field) and handed on by value.
func (b *batch) entry(win int64, n int, ref requestlog.Ref, v map[string]any, post Postings) (good int) {
	var r requestlog.Record
	s, isBlock, err := requestlog.BlockText(v)
	if err != nil {
		return 0 // a block that does not decompress: no record parses
	}
	if !isBlock {
		if r, err = requestlog.Parse(v); err != nil {
			return 0
		}
		b.seriesOf(win, r.Host, r.Route).add(n, &r)
		if post != nil {
			post.Add(ref, r)
		}
		return 1
	}
	for i := 0; s != ""; i++ {
		var line string
		line, s = requestlog.NextLine(s)
		if requestlog.ParseLine(line, &r) != nil {
			continue
		}
		good++
		b.seriesOf(win, r.Host, r.Route).add(n, &r)
		if post != nil && i < 1<<16 {
			ref.Place = uint16(i)
			post.Add(ref, r)
		}
	}
	return good
}

// series is one (window, host, route) of a batch: its summed counts and each entry's own.
type series struct {
	sums    counts
	cur     counts // the current entry's records in this series
	curN    int    // the current entry's number; 0 for none
	entries []any  // entry number, own counts, entry number, own counts, ...
}

// seriesOf returns (window, host, route)'s series, declaring its keys.
func (b *batch) seriesOf(win int64, host, route string) *series {
	k := seriesKey{win, host, route}
	if b.last != nil && b.lastK == k {
		return b.last
	}
	if s, ok := b.byKey[k]; ok {
		b.last, b.lastK = s, k
		return s
	}
	name, other := keyspace.Series(host, route), keyspace.Series(overflowHost, route)
	b.keys = append(b.keys, keyspace.MetricsIndex(b.stream, win),
		keyspace.MetricsSeries(b.stream, win, name), keyspace.MetricsSeries(b.stream, win, other))
	b.names = append(b.names, name, other)
	s := &series{}
	k = seriesKey{win, strings.Clone(host), strings.Clone(route)}
	b.byKey[k] = s
	b.order = append(b.order, s)
	b.last, b.lastK = s, k
	return s
}

// add counts r of entry number n.
func (s *series) add(n int, r *requestlog.Record) {
	if s.curN != n {
		s.close()
		s.curN = n
	}
	s.cur.add(r)
}

// close moves the current entry's counts into the sums and the entries.
func (s *series) close() {
	if s.curN == 0 {
		return
	}
	var own []byte
	s.cur.fields(func(f string, n int64) {
		own = strconv.AppendInt(append(append(own, f...), ' '), n, 10)
		own = append(own, ' ')
	})
	s.entries = append(s.entries, s.curN, string(own))
	s.sums.addCounts(&s.cur)
	s.cur.reset()
	s.curN = 0
}

// args returns the script's arguments for the batch.
func (b *batch) args(group string, ttl int64, maxSeries int) []any {
	args := make([]any, 0, 5+len(b.names)+len(b.ids)+30*len(b.order))
	args = append(args, group, ttl, maxSeries, len(b.order), len(b.ids))
	args = append(args, b.names...)
	args = append(args, b.ids...)
	for _, s := range b.order {
		s.close()
		start := len(args)
		args = append(args, len(s.entries)/2, 0)
		s.sums.fields(func(f string, n int64) { args = append(args, f, n) })
		args[start+1] = (len(args) - start - 2) / 2
		args = append(args, s.entries...)
	}
	return args
}

// Handle implements streams.Handler: entries none of whose records parse are returned for
// dead-lettering (a block's unparsable records are skipped), the others' records summed per
// series here, posted (Config.Postings) and counted and acknowledged in one script call.
func (p *Processor) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	b := &batch{stream: stream, keys: []string{stream}, byKey: map[seriesKey]*series{},
		ids: make([]any, 0, len(msgs))}
	var post Postings
	if p.cfg.Postings != nil {
		post = p.cfg.Postings(stream)
	}
	var dead []string
	for _, m := range msgs {
		n := len(b.ids) + 1
		win := streams.IDTime(m.ID).Truncate(p.cfg.Window).Unix()
		ref, refOK := requestlog.EntryRef(m.ID, 0)
		entryPost := post
		if !refOK {
			entryPost = nil // its records cannot be addressed: counted, not posted
		}
		good := b.entry(win, n, ref, m.Values, entryPost)
		if good == 0 {
			dead = append(dead, m.ID)
			continue
		}
		b.ids = append(b.ids, m.ID)
	}
	if len(b.ids) == 0 {
		return dead, nil
	}
	args := b.args(group, int64(p.cfg.Retention.Seconds()), p.cfg.MaxSeries)
	if post != nil {
		var expiries []any
		post.Strings(func(key string, postings []byte, expireAt int64) {
			b.keys = append(b.keys, key)
			args = append(args, postings)
			expiries = append(expiries, expireAt)
		})
		args = append(args, expiries...)
	}
	if err := aggregateScript.Run(ctx, p.cfg.Client, b.keys, args...).Err(); err != nil || post == nil {
		return dead, err
	}
	return dead, post.Written(ctx)
}
