package app

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/publish"
)

// keys returns the installation's keys: --namespace, with --stream-namespace (if set)
// before the telemetry streams' names.
func (a *App) keys() keyspace.Space {
	return keyspace.New(a.cfg.Namespace).WithStreamPrefix(a.cfg.StreamNamespace)
}

// TelemetryConfig says where telemetry (streams, metrics, alert state) lives and how long.
type TelemetryConfig struct {
	// RedisURL is the telemetry Redis. Default: the state Redis (RedisURL), with pools of
	// its own either way.
	RedisURL string
	// Retention is how long stream records (and the trace index) are kept. Default 1h.
	Retention time.Duration
	// MaxRecords caps each telemetry stream. Default telemetry.DefaultMaxRecords.
	MaxRecords int64
	// StreamRetention overrides Retention and MaxRecords per stream:
	// "logs:request:stream=24h,events:all:stream=100000" (telemetry.ParseStreamRetention,
	// streams named as in the default namespace).
	StreamRetention string
}

// telemetryClients are the telemetry Redis's pools, apart from the state's so that no
// telemetry read or write can wait behind, or slow, config delivery.
type telemetryClients struct {
	rdb    redis.UniversalClient // metrics counters, index, alert state, queries, trimming
	tail   redis.UniversalClient // the consumer groups' blocking reads
	events redis.UniversalClient // TailEvents' blocking reads (callers hold one each)
	pub    redis.UniversalClient // publishing logs and events

	health *telemetry.Health // watches the telemetry Redis (alerts, start-up advice)
}

// openTelemetry opens the telemetry pools on the telemetry Redis (stateURL by default) and
// the publisher of the control plane's own logs and events.
func (a *App) openTelemetry(stateURL string) error {
	url := a.cfg.Telemetry.RedisURL
	if url == "" {
		url = stateURL
	}
	var err error
	for _, c := range []struct {
		dst  *redis.UniversalClient
		size int
	}{{&a.tel.rdb, 16}, {&a.tel.tail, 8}, {&a.tel.events, 32}, {&a.tel.pub, 4}} {
		if *c.dst, err = newRedis(url, c.size); err != nil {
			return err
		}
	}
	a.pub = publish.New(publish.Config{Client: a.tel.pub, MaxLen: a.publishMaxLen(), Index: a.traceIndex()})
	return nil
}

func (c *telemetryClients) close() {
	for _, r := range []redis.UniversalClient{c.rdb, c.tail, c.events, c.pub} {
		if r != nil {
			_ = r.Close()
		}
	}
}

func (a *App) maxRecords() int64 {
	if a.cfg.Telemetry.MaxRecords > 0 {
		return a.cfg.Telemetry.MaxRecords
	}
	return telemetry.DefaultMaxRecords
}

func (a *App) traceIndex() telemetry.Index {
	return telemetry.Index{Retention: a.cfg.Telemetry.Retention}
}

// NoAgentRedis as AgentRedisURL tells agents nothing about publishing request records, even
// in dev mode (request tracing off unless an agent is given its own --redis-url).
const NoAgentRedis = "-"

// agentTelemetry is what agents are told about publishing request records (nil: nothing).
func (a *App) agentTelemetry() *edgeplanev1.TelemetrySettings {
	if a.cfg.AgentRedisURL == "" || a.cfg.AgentRedisURL == NoAgentRedis {
		return nil
	}
	return &edgeplanev1.TelemetrySettings{RedisUrl: a.cfg.AgentRedisURL,
		RequestStream: a.keys().Streams().Requests, MaxLen: a.streamMaxLen(a.keys().Streams().Requests)}
}

// requestLinger is how long the request stream's consumer gathers blocks between reads
// (streams.Config.Linger): a read and a script call per 500 ms under load, not one per block
// an agent flushes. A batch appends to up to ~260 postings strings (256 trace index shards)
// whatever its size, so Redis's and the consumer's cost per record fall as batches grow:
// at the peers run's ~50,000 records a second, reads of 100 blocks instead of 40 (500 ms
// instead of 200) took ~0.08 µs off the consumer's CPU per record and ~0.03 off
// redis-server's (BenchmarkRequestConsumers in controlplane/internal/telemetry with
// BENCH_RATE=50000 BENCH_BLOCK=256), for ~300 ms more metrics and trace lag: a request is
// counted and found by GetTrace within ~0.7 s (the agent's 100 ms, this, the script).
const requestLinger = 500 * time.Millisecond

// requestBatch is the most blocks the request stream's consumer reads at once: one Lua call
// counts a batch and appends its postings, and Redis serves nobody else meanwhile. 128
// blocks (up to 32,768 records) hold 500 ms of the peers run's load; they take ~6 ms of
// redis-server for its records and ~30 ms for BenchmarkRequestConsumers' mixed ones (the
// default, 500, ~95 ms while catching up).
const requestBatch = 128

// buildTelemetry makes the request-metrics consumer, the trimmer and the alert manager, and
// registers TelemetryService.
func (a *App) buildTelemetry() {
	names := a.keys().Streams()
	index := a.traceIndex()
	limits := a.streamLimits()
	search := &telemetry.SearchIndex{Client: a.tel.rdb, Index: index}
	if age := limits[names.Requests].MaxAge; age > 0 {
		search.Index = telemetry.Index{Retention: age}
	}
	// One consumer group reads the request stream: its pass parses each block once for the
	// counters, the trace index and the log search index (the search group of earlier
	// versions is no longer read).
	postings := &telemetry.RequestIndex{Trace: index, Search: search}
	a.metrics = metrics.New(metrics.Config{Client: a.tel.rdb,
		Postings: func(stream string) metrics.Postings { return postings.Postings(stream) }})
	a.consumers = append(a.consumers, streams.New(streams.Config{
		Client: a.tel.tail, Stream: names.Requests, Group: keyspace.GroupMetrics, Name: a.cfg.ReplicaID,
		Handler: a.metrics, Logger: a.log.With("component", "metrics"), Linger: requestLinger,
		Batch: requestBatch,
	}))
	a.trimmer = &telemetry.Trimmer{Client: a.tel.rdb, Streams: names.All(), Indexed: names.Indexed(), Index: index,
		MaxRecords: a.maxRecords(), Limits: limits, Searched: []string{names.Requests}, Search: search.Index,
		Retired: []telemetry.Group{{Stream: names.Requests, Group: keyspace.GroupSearch}},
		Logger:  a.log.With("component", "telemetry")}
	a.telemetry = &api.Telemetry{
		Reader: &telemetry.Reader{Client: a.tel.rdb, Blocking: a.tel.events, Streams: names, Index: index,
			Groups: []telemetry.Group{{Stream: names.Requests, Group: keyspace.GroupMetrics}, {Stream: names.Events, Group: keyspace.GroupAlerts}}},
		Metrics: a.metrics, Search: search,
	}
	a.tel.health = &telemetry.Health{Client: a.tel.rdb, Publisher: a.pub}
	a.alerts = alerts.New(alerts.Config{
		Client: a.tel.rdb, Metrics: a.metrics, RequestStream: names.Requests, Agents: a.fanout,
		Telemetry: a.tel.health,
		Events:    a.events.For("alerts"), Publisher: a.pub, AlertsStream: names.Alerts,
		Webhooks: a.cfg.AlertWebhooks, Rules: a.cfg.AlertRules, ReplicaID: a.cfg.ReplicaID, Keys: a.keys(),
		Logger: a.log.With("component", "alerts"),
	})
	a.consumers = append(a.consumers, streams.New(streams.Config{
		Client: a.tel.tail, Stream: names.Events, Group: keyspace.GroupAlerts, Name: a.cfg.ReplicaID,
		Handler: a.alerts, Logger: a.log.With("component", "alerts"),
	}))
	a.telemetry.Alerts = a.alerts
	edgeplanev1.RegisterTelemetryServiceServer(a.grpc, a.telemetry)
	a.prom.MustRegister(telemetry.NewCollector(telemetry.Collector{
		Client: a.tel.rdb, Reader: a.telemetry.Reader, Publisher: a.pub, Connected: a.fanout.Connected,
	}))
}

// runConsumers runs the stream consumers, the trimmer and the alert manager in g until ctx
// ends.
func (a *App) runConsumers(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error { return a.alerts.Run(ctx) })
	g.Go(func() error { return a.trimmer.Run(ctx) })
	g.Go(func() error { a.adviseTelemetry(ctx); return nil })
	for _, c := range a.consumers {
		g.Go(func() error { return c.Run(ctx) })
	}
}

// adviseTelemetry warns once, at start, about unsafe memory settings of the telemetry Redis.
func (a *App) adviseTelemetry(ctx context.Context) {
	if a.cfg.Dev {
		return // the embedded store is in memory and short-lived by design
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	shared := a.cfg.Telemetry.RedisURL == "" || a.cfg.Telemetry.RedisURL == a.cfg.RedisURL
	if advice, err := a.tel.health.Advice(ctx, shared); err == nil && advice != "" {
		a.log.WarnContext(ctx, "unsafe telemetry Redis settings", "component", "telemetry", "advice", advice)
	}
}

// streamLimits returns --stream-retention's limits keyed by this namespace's stream names
// (the flag names them as in the default namespace; it was validated when parsed).
func (a *App) streamLimits() map[string]telemetry.StreamLimit {
	base := telemetry.StreamNames("").All()
	byBase, err := telemetry.ParseStreamRetention(a.cfg.Telemetry.StreamRetention, base)
	if err != nil {
		a.log.Error("ignoring --stream-retention", "err", err)
		return nil
	}
	out := map[string]telemetry.StreamLimit{}
	for i, name := range a.keys().Streams().All() {
		if l, ok := byBase[base[i]]; ok {
			out[name] = l
		}
	}
	return out
}

// streamMaxLen is the cap publishers write stream with (XADD MAXLEN ~): its own length
// limit, else --telemetry-max-records.
func (a *App) streamMaxLen(stream string) int64 {
	if l := a.streamLimits()[stream].MaxLen; l > 0 {
		return l
	}
	return a.maxRecords()
}

// publishMaxLen is the control plane's publishers' cap (one for every stream they write):
// the largest length limit, the trimmer enforcing each stream's own.
func (a *App) publishMaxLen() int64 {
	n := a.maxRecords()
	for _, l := range a.streamLimits() {
		n = max(n, l.MaxLen)
	}
	return n
}
