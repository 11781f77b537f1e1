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

// Indexer adds the commands that index the entry id of stream under traceID to pipe.
type Indexer interface {
	Add(ctx context.Context, pipe redis.Pipeliner, stream, traceID, id string)
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
// then per entry
// 8 values: id, window start, host, route, status class, bytes in, bytes out, bucket,
// duration µs (9 values). The counters of a (window, host, route) live in one hash under the
// stream's hash tag; each window has an index set of its "host\troute" members.
var aggregateScript = redis.NewScript(`
local group, prefix, ttl, maxSeries = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local counted = {}
for i = 5, #ARGV, 9 do
  if redis.call('XACK', KEYS[1], group, ARGV[i]) == 1 then
    local win, host, route = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local idx = prefix .. win .. ':idx'
    if redis.call('SISMEMBER', idx, host .. '\t' .. route) == 0 and redis.call('SCARD', idx) >= maxSeries then
      host = '(other)'
    end
    local key = prefix .. win .. ':' .. host .. '\t' .. route
    redis.call('HINCRBY', key, 'requests', 1)
    redis.call('HINCRBY', key, 's' .. ARGV[i + 4], 1)
    redis.call('HINCRBY', key, 'bytes_in', ARGV[i + 5])
    redis.call('HINCRBY', key, 'bytes_out', ARGV[i + 6])
    redis.call('HINCRBY', key, 'b' .. ARGV[i + 7], 1)
    redis.call('HINCRBY', key, 'duration_us', ARGV[i + 8])
    redis.call('EXPIRE', key, ttl)
    redis.call('SADD', idx, host .. '\t' .. route)
    redis.call('EXPIRE', idx, ttl)
    counted[#counted + 1] = ARGV[i]
  end
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
	return dead, p.index(ctx, stream, counted, byID)
}

// index posts counted records in the trace index. A failure here loses only index entries
// (the counts are in), so it is reported but not retried.
func (p *Processor) index(ctx context.Context, stream string, ids []string, byID map[string]redis.XMessage) error {
	pipe := p.cfg.Client.Pipeline()
	for _, id := range ids {
		if trace, _ := byID[id].Values["trace_id"].(string); trace != "" {
			p.cfg.Index.Add(ctx, pipe, stream, trace, id)
		}
	}
	if pipe.Len() == 0 {
		return nil
	}
	_, err := pipe.Exec(ctx)
	return err
}
