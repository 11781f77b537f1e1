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
	// TracePrefix, when set, indexes each counted record under TracePrefix + its trace id
	// (see telemetry.Streams.TracePrefix), so GetTrace finds it without a scan.
	TracePrefix string
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
	return &Processor{cfg: cfg}
}

// aggregateScript: KEYS[1] stream. ARGV: group, key prefix, retention seconds, then per entry
// 8 values: id, window start, host, route, status class, bytes in, bytes out, bucket,
// duration µs (9 values). The counters of a (window, host, route) live in one hash under the
// stream's hash tag; each window has an index set of its "host\troute" members.
var aggregateScript = redis.NewScript(`
local group, prefix, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local counted = {}
for i = 4, #ARGV, 9 do
  if redis.call('XACK', KEYS[1], group, ARGV[i]) == 1 then
    local win, host, route = ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
    local key = prefix .. win .. ':' .. host .. '\t' .. route
    redis.call('HINCRBY', key, 'requests', 1)
    redis.call('HINCRBY', key, 's' .. ARGV[i + 4], 1)
    redis.call('HINCRBY', key, 'bytes_in', ARGV[i + 5])
    redis.call('HINCRBY', key, 'bytes_out', ARGV[i + 6])
    redis.call('HINCRBY', key, 'b' .. ARGV[i + 7], 1)
    redis.call('HINCRBY', key, 'duration_us', ARGV[i + 8])
    redis.call('EXPIRE', key, ttl)
    local idx = prefix .. win .. ':idx'
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
	args := make([]any, 0, 3+9*len(msgs))
	args = append(args, group, Prefix(stream), int64(p.cfg.Retention.Seconds()))
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
	if len(args) == 3 {
		return dead, nil
	}
	counted, err := aggregateScript.Run(ctx, p.cfg.Client, []string{stream}, args...).StringSlice()
	if err != nil || p.cfg.TracePrefix == "" {
		return dead, err
	}
	return dead, p.index(ctx, stream, counted, byID)
}

// index copies counted records into their trace's index stream. A failure here loses only
// index entries (the counts are in), so it is reported but not retried.
func (p *Processor) index(ctx context.Context, stream string, ids []string, byID map[string]redis.XMessage) error {
	pipe := p.cfg.Client.Pipeline()
	for _, id := range ids {
		m := byID[id]
		trace, _ := m.Values["trace_id"].(string)
		if trace == "" {
			continue
		}
		values := make([]any, 0, 2+2*len(m.Values))
		values = append(values, "source_stream", stream, "source_id", id)
		for k, v := range m.Values {
			values = append(values, k, v)
		}
		key := p.cfg.TracePrefix + trace
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: key, MaxLen: 1000, Approx: true, Values: values})
		pipe.Expire(ctx, key, 24*time.Hour)
	}
	_, err := pipe.Exec(ctx)
	return err
}
