package node

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redisurl"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// DefaultTraceBuffer is how many request records may wait for Redis before more are dropped.
const DefaultTraceBuffer = 65536

// Timeouts of the request-record Redis client: short, and no retries, so a Redis that is
// down costs the publishing goroutine little; the publisher retries whole batches itself.
const (
	redisDialTimeout = time.Second
	redisIOTimeout   = time.Second
	redisPoolSize    = 2
)

// recordBlocks packs request records many to a stream entry (requestlog.BlockField): Redis
// and the control plane's consumers then pay per block, not per request. Each block goes
// compressed (requestlog.ZBlockField) once the control plane says it reads them.
func (a *Agent) recordBlocks() *publish.Packing {
	return &publish.Packing{Field: requestlog.Field, Into: requestlog.BlockField,
		MaxRecords: requestlog.MaxBlockRecords, MaxBytes: requestlog.MaxBlockBytes,
		Encode: func() (string, func(dst, value []byte) []byte) {
			if a.zBlocks.Load() {
				return requestlog.ZBlockField, requestlog.AppendZBlock
			}
			return "", nil
		}}
}

// traceLinger is how long request records gather before a block goes out: one pipeline per
// 100 ms at most, whatever the request rate. Measured on the 2-CPU bench box (bench/peers,
// tracing on, A/B in one run, both orders): 100 ms served 1.03x the requests/s of 20 ms;
// 250 ms no more than 100. A record reaches Redis at most this long after its request
// (GetTrace finds it once the control plane's consumer has indexed it: within ~0.7 s of the
// request, the consumer reading every 500 ms).
const traceLinger = 100 * time.Millisecond

// telemetrySettings is where request records go; a zero url means nowhere.
type telemetrySettings struct {
	url, stream string
	maxLen      int64
}

// effectiveTelemetry combines the control plane's settings (nil: none) with the agent's
// flags, which win.
func (a *Agent) effectiveTelemetry(cp *edgeplanev1.TelemetrySettings) telemetrySettings {
	s := telemetrySettings{url: cp.GetRedisUrl(), stream: cp.GetRequestStream(), maxLen: cp.GetMaxLen()}
	if a.cfg.RedisURL != "" {
		s.url = a.cfg.RedisURL
	}
	if a.cfg.RequestStream != "" {
		s.stream = a.cfg.RequestStream
	}
	if s.stream == "" {
		s.stream = proxy.DefaultRequestStream
	}
	return s
}

// offerTelemetry hands the control plane's latest settings to runTelemetry without
// waiting: a pending older offer is replaced. Called from the config stream only.
func (a *Agent) offerTelemetry(ts *edgeplanev1.TelemetrySettings) {
	if a.pool != nil {
		a.pool.setTelemetry(ts)
	}
	for {
		select {
		case a.telemetry <- ts:
			return
		default:
		}
		select {
		case <-a.telemetry:
		default:
		}
	}
}

// runTelemetry owns the request-record publisher: it starts one for the flags' or the
// control plane's settings and replaces it (closing the old Redis client) when they change.
// A Redis that is down or a URL that does not parse never stops the agent. started, if not
// nil, is closed once the proxy publishes with the settings known when it began (the flags,
// or settings already offered): a worker accepts connections only then, so that every
// request it serves is recorded.
func (a *Agent) runTelemetry(ctx context.Context, started chan<- struct{}) error {
	cur := a.effectiveTelemetry(nil)
	select {
	case ts := <-a.telemetry:
		cur = a.effectiveTelemetry(ts)
	default:
	}
	var stop func()
	if cur.url != "" {
		stop = a.startPublisher(ctx, cur)
	}
	if started != nil {
		close(started)
	}
	for {
		select {
		case <-ctx.Done():
			if stop != nil {
				stop()
			}
			return nil
		case ts := <-a.telemetry:
			next := a.effectiveTelemetry(ts)
			if next == cur {
				continue
			}
			cur = next
			old := stop
			stop = nil
			if next.url != "" {
				stop = a.startPublisher(ctx, next) // swaps the proxy to the new publisher
			}
			if stop == nil {
				a.proxy.SetPublisher(nil, "")
				a.log.LogAttrs(ctx, slog.LevelInfo, "request records off")
			}
			if old != nil {
				old()
			}
		}
	}
}

// startPublisher connects a publisher for s, makes the proxy use it and returns the
// function that stops it; nil if s.url is not a Redis URL.
func (a *Agent) startPublisher(ctx context.Context, s telemetrySettings) (stop func()) {
	client, err := redisurl.Open(s.url, redisurl.Tuning{
		PoolSize: redisPoolSize, MaxRetries: -1, DialerRetries: 1,
		DialTimeout: redisDialTimeout, ReadTimeout: redisIOTimeout, WriteTimeout: redisIOTimeout,
	})
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "request records off: bad Redis URL", slog.Any("error", err))
		return nil
	}
	redisLogOnce.Do(func() { redis.SetLogger(redisLogger{a.log.With("component", "telemetry")}) })
	pub := publish.New(publish.Config{Client: client, MaxLen: s.maxLen, Buffer: a.cfg.TraceBuffer, Pack: a.recordBlocks(),
		Linger: traceLinger})
	a.traces.use(pub)
	a.proxy.SetPublisher(pub, s.stream)
	a.log.LogAttrs(ctx, slog.LevelInfo, "publishing request records", slog.Any("redis", client.Addrs), slog.String("mode", string(client.Mode)),
		slog.String("stream", s.stream))
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		pub.Run(pctx)
	}()
	return func() {
		cancel()
		<-done
		client.Close()
		a.traces.retire(pub)
	}
}

// redisLogOnce routes go-redis's own log lines (one per failed dial while Redis is down) to
// the agent's log at debug level; the publisher's drop counter is what operators watch.
var redisLogOnce sync.Once

type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	if l.log.Enabled(ctx, slog.LevelDebug) {
		l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
	}
}

// traceStats sums the counters of every publisher the agent has had.
type traceStats struct {
	mu   sync.Mutex
	base publish.Stats
	cur  []*publish.Publisher
}

func (t *traceStats) use(p *publish.Publisher) {
	t.mu.Lock()
	t.cur = append(t.cur, p)
	t.mu.Unlock()
}

func (t *traceStats) retire(p *publish.Publisher) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i, c := range t.cur {
		if c == p {
			s := p.Stats()
			t.base.Sent += s.Sent
			t.base.Dropped += s.Dropped
			t.cur = append(t.cur[:i], t.cur[i+1:]...)
			return
		}
	}
}

// read returns the records published and dropped so far.
func (t *traceStats) read() (published, dropped uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	published, dropped = t.base.Sent, t.base.Dropped
	for _, p := range t.cur {
		s := p.Stats()
		published += s.Sent
		dropped += s.Dropped
	}
	return published, dropped
}
