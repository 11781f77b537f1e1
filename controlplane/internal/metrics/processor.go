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
// overflow name, then per entry 7 values: id, series number (1..n), status class, bytes in,
// bytes out, bucket, duration µs. Entries whose XACK acknowledged them are summed per
// series in Lua, then each sum is added with one HINCRBY per field. A window's index holds
// at most maxSeries series: a further one counts under its overflow series ("(other)" host,
// same route). Every key shares the stream's hash tag (one Cluster slot).
var aggregateScript = redis.NewScript(`
local group, ttl, maxSeries, n = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local counted, acc = {}, {}
local function add(f, k, v) f[k] = (f[k] or 0) + v end
for i = 5 + 2 * n, #ARGV, 7 do
  if redis.call('XACK', KEYS[1], group, ARGV[i]) == 1 then
    local g = tonumber(ARGV[i + 1])
    local f = acc[g]
    if not f then
      f = {}
      acc[g] = f
    end
    add(f, 'requests', 1)
    add(f, 's' .. ARGV[i + 2], 1)
    add(f, 'bytes_in', tonumber(ARGV[i + 3]))
    add(f, 'bytes_out', tonumber(ARGV[i + 4]))
    add(f, 'b' .. ARGV[i + 5], 1)
    add(f, 'duration_us', tonumber(ARGV[i + 6]))
    counted[#counted + 1] = ARGV[i]
  end
end
for g = 1, n do
  local f = acc[g]
  if f then
    local idx, key, series = KEYS[3 * g - 1], KEYS[3 * g], ARGV[3 + 2 * g]
    if redis.call('SISMEMBER', idx, series) == 0 and redis.call('SCARD', idx) >= maxSeries then
      key, series = KEYS[3 * g + 1], ARGV[4 + 2 * g]
    end
    for k, v in pairs(f) do
      redis.call('HINCRBY', key, k, string.format('%.0f', v))
    end
    redis.call('EXPIRE', key, ttl)
    redis.call('SADD', idx, series)
    redis.call('EXPIRE', idx, ttl)
  end
end
return counted
`)

// overflowHost is the host a window's series beyond MaxSeries are counted under.
const overflowHost = "(other)"

// batch is one script call's keys and arguments under construction.
type batch struct {
	stream  string
	keys    []string
	series  []any          // per series: name, overflow name
	entries []any          // per entry: 7 values
	number  map[string]int // "window\nseries" -> series number
}

// seriesOf returns the number of (window, host, route)'s series, declaring its keys.
func (b *batch) seriesOf(win int64, host, route string) int {
	name := keyspace.Series(host, route)
	id := strconv.FormatInt(win, 10) + "\n" + name
	if n, ok := b.number[id]; ok {
		return n
	}
	other := keyspace.Series(overflowHost, route)
	b.keys = append(b.keys, keyspace.MetricsIndex(b.stream, win),
		keyspace.MetricsSeries(b.stream, win, name), keyspace.MetricsSeries(b.stream, win, other))
	b.series = append(b.series, name, other)
	b.number[id] = len(b.number) + 1
	return len(b.number)
}

// Handle implements streams.Handler: malformed records are returned for dead-lettering, the
// others counted and acknowledged in one script call.
func (p *Processor) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	b := &batch{stream: stream, keys: []string{stream}, number: map[string]int{}}
	var dead []string
	byID := make(map[string]redis.XMessage, len(msgs))
	for _, m := range msgs {
		byID[m.ID] = m
		r, err := requestlog.Parse(m.Values)
		if err != nil {
			if errors.Is(err, requestlog.ErrMalformed) {
				dead = append(dead, m.ID)
				continue
			}
			return dead, err
		}
		win := streams.IDTime(m.ID).Truncate(p.cfg.Window).Unix()
		b.entries = append(b.entries, m.ID, b.seriesOf(win, r.Host, r.Route), strconv.Itoa(r.Status/100)+"xx",
			r.BytesIn, r.BytesOut, bucket(r.Duration), r.Duration.Microseconds())
	}
	if len(b.entries) == 0 {
		return dead, nil
	}
	args := make([]any, 0, 4+len(b.series)+len(b.entries))
	args = append(args, group, int64(p.cfg.Retention.Seconds()), p.cfg.MaxSeries, len(b.number))
	args = append(append(args, b.series...), b.entries...)
	counted, err := aggregateScript.Run(ctx, p.cfg.Client, b.keys, args...).StringSlice()
	if err != nil || p.cfg.Index == nil {
		return dead, err
	}
	return dead, p.index(ctx, stream, counted, byID)
}

// index posts counted records in the trace index. A failure here loses only index entries
// (the counts are in), so it is reported but not retried.
func (p *Processor) index(ctx context.Context, stream string, ids []string, byID map[string]redis.XMessage) error {
	traces := make([]string, 0, len(ids))
	indexed := make([]string, 0, len(ids))
	for _, id := range ids {
		if trace, _ := byID[id].Values["trace_id"].(string); trace != "" {
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
