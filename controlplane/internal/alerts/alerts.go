// Package alerts is the AlertManager: rules over request metrics (error rate, latency),
// agent statuses, consumer lag and domain events (certificate expiry and failure, services
// that died) raise alerts with a severity; each alert is sent to the alerts stream, the log,
// the events stream (alert_fired, alert_resolved) and HTTP webhooks in Prometheus
// Alertmanager's format.
//
// Replicas share the alert state in Redis: an alert's identity is its rule and labels; the
// firing alerts are one hash, and a per-alert cooldown key taken with SET NX PX decides which
// replica notifies, so replicas evaluating at the same time send one notification per
// cooldown. An alert whose condition clears is resolved once, with one resolved notification
// (only if its firing was notified).
package alerts

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/publish"
)

// Metrics answers request metrics (metrics.Processor). Query sums the windows overlapping
// [from, to) per host and route; it is called once per evaluation.
type Metrics interface {
	Query(ctx context.Context, stream, host string, from, to time.Time) ([]metrics.Summary, error)
}

// Agents reports every known agent's status (fanout.Fanout). It is called once per
// evaluation and must reflect statuses written by every replica.
type Agents interface {
	Agents(ctx context.Context) ([]*edgeplanev1.Agent, error)
}

var _ Metrics = (*metrics.Processor)(nil)

// Config configures a Manager.
type Config struct {
	// Client holds the shared alert state and reads consumer lag; the state pool, not the
	// blocking one. Required.
	Client redis.UniversalClient
	// Metrics answers ErrorRate and Latency rules; nil skips them.
	Metrics Metrics
	// RequestStream is the agents' request stream, for Metrics and ConsumerLag. Default: Keys'
	// request stream.
	RequestStream string
	// Agents answers AgentDown rules; nil skips them.
	Agents Agents
	// Telemetry answers TelemetryStore rules; nil skips them.
	Telemetry TelemetryHealth
	// Events receives alert_fired and alert_resolved; nil sends none.
	Events *telemetry.Events
	// Publisher appends notifications to AlertsStream; nil skips the stream.
	Publisher *publish.Publisher
	// AlertsStream is the alerts stream. Default: Keys' alerts stream.
	AlertsStream string
	// Webhooks are URLs that receive each notification as a POST of an Alertmanager alert
	// array (e.g. http://alertmanager:9093/api/v2/alerts).
	Webhooks []string
	// Rules are evaluated; nil means DefaultRules(). Rules of unknown kinds are ignored.
	Rules []Rule
	// EvalEvery is the evaluation interval. Default 10s.
	EvalEvery time.Duration
	// Window is how far back metric rules look. Default 1m.
	Window time.Duration
	// Cooldown is the least time between two firing notifications of one alert. Default 5m.
	Cooldown time.Duration
	// Keys names the alert state's keys (AlertsActive, AlertsNotified, AlertCooldown), which
	// share one hash tag. Default: keyspace.New("").
	Keys keyspace.Space
	// GeneratorURL is sent as the webhooks' generatorURL; default none.
	GeneratorURL string
	// HTTPClient posts to webhooks. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// WebhookQueue is how many notifications may wait per webhook; more are dropped and
	// logged. Default 256.
	WebhookQueue int
	// WebhookAttempts is how many times a notification is posted before it is given up.
	// Default 4.
	WebhookAttempts int
	// WebhookBackoff is the ceiling of the first pause between attempts (jittered, doubling).
	// Default 500ms.
	WebhookBackoff time.Duration
	// ReplicaID names this replica in notifications.
	ReplicaID string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Manager evaluates the rules and notifies. Its methods are safe for concurrent use.
type Manager struct {
	cfg   Config
	log   *slog.Logger
	rules []Rule
	hooks []*webhook
	kick  chan struct{} // asks Run to evaluate now

	unstoredMu sync.Mutex           // guards unstored
	unstored   map[string]time.Time // alert id -> last notified without the shared state
}

// New returns a Manager; Run evaluates and delivers webhooks, Handle consumes events.
func New(cfg Config) *Manager {
	setDefaults(&cfg)
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Manager{cfg: cfg, log: log, kick: make(chan struct{}, 1)}
	rules := cfg.Rules
	if rules == nil {
		rules = DefaultRules()
	}
	for _, r := range rules {
		full, ok := r.withDefaults()
		if !ok {
			log.Warn("ignoring alert rule of unknown kind", "rule", r.Name, "kind", string(r.Kind))
			continue
		}
		m.rules = append(m.rules, full)
	}
	for _, u := range cfg.Webhooks {
		m.hooks = append(m.hooks, &webhook{url: u, queue: make(chan []byte, cfg.WebhookQueue)})
	}
	return m
}

func setDefaults(cfg *Config) {
	if cfg.Keys == (keyspace.Space{}) {
		cfg.Keys = keyspace.New("")
	}
	if cfg.RequestStream == "" {
		cfg.RequestStream = cfg.Keys.Streams().Requests
	}
	if cfg.AlertsStream == "" {
		cfg.AlertsStream = cfg.Keys.Streams().Alerts
	}
	if cfg.EvalEvery <= 0 {
		cfg.EvalEvery = 10 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Cooldown <= 0 {
		cfg.Cooldown = 5 * time.Minute
	}
	if cfg.Keys == (keyspace.Space{}) {
		cfg.Keys = keyspace.New("")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.WebhookQueue <= 0 {
		cfg.WebhookQueue = 256
	}
	if cfg.WebhookAttempts <= 0 {
		cfg.WebhookAttempts = 4
	}
	if cfg.WebhookBackoff <= 0 {
		cfg.WebhookBackoff = 500 * time.Millisecond
	}
}

// Run evaluates the rules every EvalEvery (and at once when an event asks for it) and
// delivers webhook notifications, until ctx ends; it then returns nil. Evaluation errors
// are logged and the next round retries.
func (m *Manager) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, h := range m.hooks {
		wg.Go(func() { m.deliver(ctx, h) })
	}
	tick := time.NewTicker(m.cfg.EvalEvery)
	defer tick.Stop()
	for {
		if err := m.Evaluate(ctx); err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "evaluating alert rules", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-m.kick:
		}
	}
}

// evaluateSoon asks Run for an evaluation now; it never blocks.
func (m *Manager) evaluateSoon() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}
