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

// aggregateScript: KEYS[1] stream. ARGV: group, key prefix, retention seconds, max series,
// then per series (window, host, route) summed in Go: window start, host, route, entry
// count n, field count f, f pairs of counter field and sum, then n pairs of entry id and
// that entry's own counts ("class bucket bytes_in bytes_out duration_us"). Each entry is
// acknowledged (XACK); the rare one that was already acknowledged (a consumer presumed
// dead had its work claimed and counted it) has its own counts taken back out of the sums.
// Then each series' sums are added with one HINCRBY per field: the counters of a (window,
// host, route) live in one hash under the stream's hash tag; each window has an index set
// of its "host\troute" members, at most maxSeries of them (further hosts count as
// "(other)"). Returns the ids that were not counted.
//
// Per entry the script does one XACK and one comparison, on two arguments: summing in Go
// is what makes a batch cheap for Redis (Lua string and table work per entry was most of
// its cost).
var aggregateScript = redis.NewScript(`
local group, prefix, ttl, maxSeries = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local skipped = {}
local i = 5
while i <= #ARGV do
  local win, host, route, n, nf = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4])
  i = i + 5
  local f = {}
  for j = 0, nf - 1 do
    f[ARGV[i + 2 * j]] = tonumber(ARGV[i + 2 * j + 1])
  end
  i = i + 2 * nf
  local acked = 0
  for j = 0, n - 1 do
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
  i = i + 2 * n
  if acked > 0 then
    local idx = prefix .. win .. ':idx'
    local series = host .. '\t' .. route
    if redis.call('SISMEMBER', idx, series) == 0 and redis.call('SCARD', idx) >= maxSeries then
      series = '(other)\t' .. route
    end
    local key = prefix .. win .. ':' .. series
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

// Prefix returns the key prefix of the counters of stream: the stream name is the hash tag,
// so counters and stream share a slot on Redis Cluster.
func Prefix(stream string) string { return "{" + stream + "}:metrics:" }

// series is one (window, host, route) of a batch: its entries and their summed counts.
type series struct {
	win         int64
	host, route string
	sums        map[string]int64
	entries     []any // id, own counts, id, own counts, ...
}

// Handle implements streams.Handler: malformed records are returned for dead-lettering, the
// others summed per series here and counted and acknowledged in one script call.
func (p *Processor) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	var dead []string
	traces := make(map[string]string, len(msgs)) // entry id -> trace id, for the index
	ids := make([]string, 0, len(msgs))          // parsed entries, in stream order
	bySeries := map[string]*series{}
	var order []*series
	for _, m := range msgs {
		r, err := requestlog.Parse(m.Values)
		if err != nil {
			if errors.Is(err, requestlog.ErrMalformed) {
				dead = append(dead, m.ID)
				continue
			}
			return dead, err
		}
		traces[m.ID] = r.TraceID
		ids = append(ids, m.ID)
		win := streams.IDTime(m.ID).Truncate(p.cfg.Window).Unix()
		key := strconv.FormatInt(win, 10) + "\n" + r.Host + "\t" + r.Route
		s := bySeries[key]
		if s == nil {
			s = &series{win: win, host: r.Host, route: r.Route, sums: make(map[string]int64, 8)}
			bySeries[key] = s
			order = append(order, s)
		}
		class, b, us := strconv.Itoa(r.Status/100)+"xx", bucket(r.Duration), r.Duration.Microseconds()
		s.sums["requests"]++
		s.sums["s"+class]++
		s.sums["b"+strconv.Itoa(b)]++
		s.sums["bytes_in"] += r.BytesIn
		s.sums["bytes_out"] += r.BytesOut
		s.sums["duration_us"] += us
		s.entries = append(s.entries, m.ID, fmt.Sprintf("%s %d %d %d %d", class, b, r.BytesIn, r.BytesOut, us))
	}
	if len(order) == 0 {
		return dead, nil
	}
	args := make([]any, 0, 4+len(msgs)*2+len(order)*21)
	args = append(args, group, Prefix(stream), int64(p.cfg.Retention.Seconds()), p.cfg.MaxSeries)
	for _, s := range order {
		args = append(args, s.win, s.host, s.route, len(s.entries)/2, len(s.sums))
		for k, v := range s.sums {
			args = append(args, k, v)
		}
		args = append(args, s.entries...)
	}
	skipped, err := aggregateScript.Run(ctx, p.cfg.Client, []string{stream}, args...).StringSlice()
	if err != nil || p.cfg.Index == nil {
		return dead, err
	}
	for _, id := range skipped {
		delete(traces, id) // counted (and indexed) by whoever acknowledged it first
	}
	return dead, p.index(ctx, stream, ids, traces)
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
