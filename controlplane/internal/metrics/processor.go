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
// then per entry 9 values: id, window start, host, route, status class, bytes in, bytes
// out, bucket, duration µs. Entries whose XACK acknowledged them are summed per (window,
// host, route) in Lua, then each sum is added with one HINCRBY per field: the counters of a
// (window, host, route) live in one hash under the stream's hash tag; each window has an
// index set of its "host\troute" members, at most maxSeries of them (further hosts count
// as "(other)").
var aggregateScript = redis.NewScript(`
local group, prefix, ttl, maxSeries = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local counted, acc, order = {}, {}, {}
local function add(f, k, n) f[k] = (f[k] or 0) + n end
for i = 5, #ARGV, 9 do
  if redis.call('XACK', KEYS[1], group, ARGV[i]) == 1 then
    local id = ARGV[i + 1] .. '\n' .. ARGV[i + 2] .. '\t' .. ARGV[i + 3]
    local a = acc[id]
    if not a then
      a = {win = ARGV[i + 1], host = ARGV[i + 2], route = ARGV[i + 3], f = {}}
      acc[id] = a
      order[#order + 1] = id
    end
    add(a.f, 'requests', 1)
    add(a.f, 's' .. ARGV[i + 4], 1)
    add(a.f, 'bytes_in', tonumber(ARGV[i + 5]))
    add(a.f, 'bytes_out', tonumber(ARGV[i + 6]))
    add(a.f, 'b' .. ARGV[i + 7], 1)
    add(a.f, 'duration_us', tonumber(ARGV[i + 8]))
    counted[#counted + 1] = ARGV[i]
  end
end
for _, id in ipairs(order) do
  local a = acc[id]
  local idx = prefix .. a.win .. ':idx'
  local series = a.host .. '\t' .. a.route
  if redis.call('SISMEMBER', idx, series) == 0 and redis.call('SCARD', idx) >= maxSeries then
    series = '(other)\t' .. a.route
  end
  local key = prefix .. a.win .. ':' .. series
  for k, n in pairs(a.f) do
    redis.call('HINCRBY', key, k, string.format('%.0f', n))
  end
  redis.call('EXPIRE', key, ttl)
  redis.call('SADD', idx, series)
  redis.call('EXPIRE', idx, ttl)
end
return counted
`)

// Prefix returns the key prefix of the counters of stream: the stream name is the hash tag,
// so counters and stream share a slot on Redis Cluster.
func Prefix(stream string) string { return "{" + stream + "}:metrics:" }

// Handle implements streams.Handler: malformed records are returned for dead-lettering, the
// others counted and acknowledged in one script call.
func (p *Processor) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	args := make([]any, 0, 4+9*len(msgs))
	args = append(args, group, Prefix(stream), int64(p.cfg.Retention.Seconds()), p.cfg.MaxSeries)
	var dead []string
	traces := make(map[string]string, len(msgs)) // entry id -> trace id, for the index
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
		win := streams.IDTime(m.ID).Truncate(p.cfg.Window).Unix()
		args = append(args, m.ID, win, r.Host, r.Route, strconv.Itoa(r.Status/100)+"xx",
			r.BytesIn, r.BytesOut, bucket(r.Duration), r.Duration.Microseconds())
	}
	if len(args) == 4 {
		return dead, nil
	}
	counted, err := aggregateScript.Run(ctx, p.cfg.Client, []string{stream}, args...).StringSlice()
	if err != nil || p.cfg.Index == nil {
		return dead, err
	}
	return dead, p.index(ctx, stream, counted, traces)
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
