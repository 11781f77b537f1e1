// Package metrics turns the agents' request records into per-window, per-host, per-route
// counters and latency histograms kept in Redis, so any replica can answer GetMetrics.
//
// Counting is exact under redelivery: one Lua call per batch acknowledges each entry (XACK)
// and adds its counts only if that XACK acknowledged it. An entry processed twice (a
// consumer that was presumed dead and whose work was claimed) is counted once.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
	// Index, when set, indexes each counted record under its trace id (telemetry.Index),
	// so GetTrace finds it without a scan.
	Index Indexer
	// MaxSeries bounds the (host, route) series of one window: records of further series
	// are counted under host "(other)" with their route, since a client chooses the Host
	// header of an unmatched request. Default 1000.
	MaxSeries int
}

// Indexer adds to pipe the commands that index stream's entries ids[i] under traceIDs[i].
type Indexer interface {
	Add(ctx context.Context, pipe redis.Pipeliner, stream string, traceIDs, ids []string)
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

// aggregateScript counts a batch of request records. KEYS[1] is the stream; then, per
// series of the batch, 3 keys: the window's index (keyspace.MetricsIndex), the series'
// counters and the window's overflow series' counters (keyspace.MetricsSeries). ARGV:
// group, retention seconds, max series, series count n, then per series its name and its
// overflow name, then per series (in the same order) what Go summed: entry count e, field
// count f, f pairs of counter field and sum, and e pairs of entry id and that entry's own
// counts ("class bucket bytes_in bytes_out duration_us"). Each entry is acknowledged
// (XACK); the rare one that was already acknowledged (a consumer presumed dead had its work
// claimed and counted it) has its own counts taken back out of the sums. Each series' sums
// are then added with one HINCRBY per field. A window's index holds at most maxSeries
// series: a further one counts under its overflow series ("(other)" host, same route).
// Every key shares the stream's hash tag (one Cluster slot). Returns the ids not counted.
//
// Per entry the script does one XACK and one comparison on two arguments: summing in Go
// is what makes a batch cheap for Redis (Lua string and table work per entry, with nine
// arguments each, was most of its cost).
var aggregateScript = redis.NewScript(`
local group, ttl, maxSeries, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local skipped = {}
local i = 5 + 2 * n
for g = 1, n do
  local e, nf = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  i = i + 2
  local f = {}
  for j = 0, nf - 1 do
    f[ARGV[i + 2 * j]] = tonumber(ARGV[i + 2 * j + 1])
  end
  i = i + 2 * nf
  local acked = 0
  for j = 0, e - 1 do
    local id = ARGV[i + 2 * j]
    if redis.call('XACK', KEYS[1], group, id) == 1 then
      acked = acked + 1
    else
      skipped[#skipped + 1] = id
      local c, b, bin, bout, d = string.match(ARGV[i + 2 * j + 1], '^(%S+) (%S+) (%S+) (%S+) (%S+)$')
      f['requests'] = f['requests'] - 1
      f['s' .. c] = f['s' .. c] - 1
      f['b' .. b] = f['b' .. b] - 1
      f['bytes_in'] = f['bytes_in'] - tonumber(bin)
      f['bytes_out'] = f['bytes_out'] - tonumber(bout)
      f['duration_us'] = f['duration_us'] - tonumber(d)
    end
  end
  i = i + 2 * e
  if acked > 0 then
    local idx, key, series = KEYS[3 * g - 1], KEYS[3 * g], ARGV[3 + 2 * g]
    if redis.call('SISMEMBER', idx, series) == 0 and redis.call('SCARD', idx) >= maxSeries then
      key, series = KEYS[3 * g + 1], ARGV[4 + 2 * g]
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
return skipped
`)

// overflowHost is the host a window's series beyond MaxSeries are counted under.
const overflowHost = "(other)"

// batch is one script call's keys and arguments under construction.
type batch struct {
	stream string
	keys   []string
	names  []any              // per series: name, overflow name
	order  []*series          // in key order
	byID   map[string]*series // "window\nseries" -> its series
	traces map[string]string  // entry id -> trace id, for the index
	ids    []string           // parsed entries, in stream order
}

// series is one (window, host, route) of a batch: its entries and their summed counts.
type series struct {
	sums    map[string]int64
	entries []any // id, own counts, id, own counts, ...
}

// seriesOf returns (window, host, route)'s series, declaring its keys.
func (b *batch) seriesOf(win int64, host, route string) *series {
	name := keyspace.Series(host, route)
	id := strconv.FormatInt(win, 10) + "\n" + name
	if s, ok := b.byID[id]; ok {
		return s
	}
	other := keyspace.Series(overflowHost, route)
	b.keys = append(b.keys, keyspace.MetricsIndex(b.stream, win),
		keyspace.MetricsSeries(b.stream, win, name), keyspace.MetricsSeries(b.stream, win, other))
	b.names = append(b.names, name, other)
	s := &series{sums: make(map[string]int64, 8)}
	b.byID[id] = s
	b.order = append(b.order, s)
	return s
}

// add sums r, entry id, into its series.
func (s *series) add(id string, r *requestlog.Record) {
	class, bk, us := strconv.Itoa(r.Status/100)+"xx", bucket(r.Duration), r.Duration.Microseconds()
	s.sums["requests"]++
	s.sums["s"+class]++
	s.sums["b"+strconv.Itoa(bk)]++
	s.sums["bytes_in"] += r.BytesIn
	s.sums["bytes_out"] += r.BytesOut
	s.sums["duration_us"] += us
	s.entries = append(s.entries, id, fmt.Sprintf("%s %d %d %d %d", class, bk, r.BytesIn, r.BytesOut, us))
}

// args returns the script's arguments for the batch.
func (b *batch) args(group string, ttl int64, maxSeries int) []any {
	args := make([]any, 0, 4+len(b.names)+2*len(b.ids)+20*len(b.order))
	args = append(args, group, ttl, maxSeries, len(b.order))
	args = append(args, b.names...)
	for _, s := range b.order {
		args = append(args, len(s.entries)/2, len(s.sums))
		for k, v := range s.sums {
			args = append(args, k, v)
		}
		args = append(args, s.entries...)
	}
	return args
}

// Handle implements streams.Handler: malformed records are returned for dead-lettering, the
// others summed per series here and counted and acknowledged in one script call.
func (p *Processor) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	b := &batch{stream: stream, keys: []string{stream}, byID: map[string]*series{},
		traces: make(map[string]string, len(msgs)), ids: make([]string, 0, len(msgs))}
	var dead []string
	for _, m := range msgs {
		r, err := requestlog.Parse(m.Values)
		if err != nil {
			if errors.Is(err, requestlog.ErrMalformed) {
				dead = append(dead, m.ID)
				continue
			}
			return dead, err
		}
		b.traces[m.ID] = r.TraceID
		b.ids = append(b.ids, m.ID)
		win := streams.IDTime(m.ID).Truncate(p.cfg.Window).Unix()
		b.seriesOf(win, r.Host, r.Route).add(m.ID, &r)
	}
	if len(b.ids) == 0 {
		return dead, nil
	}
	args := b.args(group, int64(p.cfg.Retention.Seconds()), p.cfg.MaxSeries)
	skipped, err := aggregateScript.Run(ctx, p.cfg.Client, b.keys, args...).StringSlice()
	if err != nil || p.cfg.Index == nil {
		return dead, err
	}
	for _, id := range skipped {
		delete(b.traces, id) // counted (and indexed) by whoever acknowledged it first
	}
	return dead, p.index(ctx, stream, b.ids, b.traces)
}

// index posts counted records in the trace index. A failure here loses only index entries
// (the counts are in), so it is reported but not retried.
func (p *Processor) index(ctx context.Context, stream string, ids []string, traceOf map[string]string) error {
	traces := make([]string, 0, len(ids))
	indexed := make([]string, 0, len(ids))
	for _, id := range ids {
		if trace := traceOf[id]; trace != "" {
			traces, indexed = append(traces, trace), append(indexed, id)
		}
	}
	if len(indexed) == 0 {
		return nil
	}
	pipe := p.cfg.Client.Pipeline()
	p.cfg.Index.Add(ctx, pipe, stream, traces, indexed)
	_, err := pipe.Exec(ctx)
	return err
}
