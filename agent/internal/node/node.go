// Package node is one edge agent: it serves the proxy, keeps the config stream to the
// control plane, applies configs and caches them on disk. agent/main.go turns flags into a
// Config; end-to-end tests run several Agents in one process the same way.
package node

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	grpcbackoff "google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/edgeplane/edgeplane/agent/internal/cache"
	"github.com/edgeplane/edgeplane/agent/internal/frontend"
	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	"github.com/edgeplane/edgeplane/agent/internal/stream"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
	"github.com/edgeplane/edgeplane/internal/redisurl"
)

// Defaults for zero Config fields.
const (
	DefaultControlPlane = "127.0.0.1:7000"
	DefaultHTTPAddr     = ":8080"
	DefaultMetricsAddr  = "127.0.0.1:8081"
	DefaultDrainTimeout = 10 * time.Second
	// DefaultReconnectMax caps the delay between two attempts to reach the control plane:
	// an agent finds a healed control plane at most this long after it is back, well
	// within the 5 s catch-up goal. Delays are fully jittered, so a fleet that lost a
	// restarted control plane comes back spread over this time (internal/backoff's
	// schedule tests: at most about fleet/s at the busiest); large fleets may raise it.
	DefaultReconnectMax = 2 * time.Second
)

// Config configures an Agent. Zero fields take the defaults above.
type Config struct {
	// ControlPlane is the control plane's gRPC address, host:port.
	ControlPlane string
	// NodeID names this agent in the fleet; empty means the host name.
	NodeID string
	// Labels are sent in Hello.
	Labels map[string]string
	// Version is sent in Hello.
	Version string
	// HTTPAddr is where the proxy listens; "127.0.0.1:0" picks a free port (see Addr).
	HTTPAddr string
	// HTTPSAddr is where the proxy terminates TLS; empty disables HTTPS (the command's
	// flag defaults to :8443).
	HTTPSAddr string
	// ProxyProtocol requires a PROXY protocol v1/v2 header on every client connection
	// from ProxyProtocolFrom (CIDR ranges, required with it).
	ProxyProtocol     bool
	ProxyProtocolFrom []string
	// ReusePort lets other processes listen on HTTPAddr and HTTPSAddr too (SO_REUSEPORT,
	// frontend.Config.ReusePort): several agents on one host.
	ReusePort bool
	// Limits bound what clients control (see proxy.Limits); zero fields take defaults.
	Limits proxy.Limits
	// StripHeaders are client request headers never forwarded; nil means
	// proxy.DefaultStripHeaders.
	StripHeaders []string
	// MetricsAddr serves /metrics, /healthz and /readyz; "127.0.0.1:0" picks a free port.
	MetricsAddr string
	// Pprof also serves net/http/pprof under /debug/pprof/ on MetricsAddr.
	Pprof bool
	// CacheDir holds the config cache; it is created if missing. Empty disables the cache.
	CacheDir string
	// Validate, if set, sees every new full route set (sorted by name) after the agent's own
	// checks; an error rejects the config with a Nack carrying the error's text.
	Validate func([]*edgeplanev1.Route) error
	// Backoff spaces reconnection attempts; Max defaults to DefaultReconnectMax, Min to
	// backoff.DefaultMin.
	Backoff backoff.Config
	// DrainTimeout bounds how long shutdown waits for in-flight requests.
	DrainTimeout time.Duration
	// DialOptions are added to the gRPC client's (insecure credentials, 30 s keepalive).
	DialOptions []grpc.DialOption
	// Logger receives the agent's logs, each with a "component" attribute. Nil discards.
	Logger *slog.Logger
	// RedisURL, when set, is where request records go, in any form internal/redisurl
	// accepts (one server, Cluster ?addr=, Sentinel ?master_name=), overriding the control plane's TelemetrySettings; empty takes the control plane's.
	RedisURL string
	// RequestStream, when set, overrides the request stream's name; empty takes the
	// control plane's, else proxy.DefaultRequestStream.
	RequestStream string
	// TraceBuffer is how many request records may wait for Redis; more are dropped and
	// counted (default DefaultTraceBuffer).
	TraceBuffer int
	// JoinToken and CAPin enrol the agent (once: the certificate is kept in CacheDir); from
	// then on it speaks mTLS. CAPin is "sha256:<hex>" of the cluster CA's public key.
	JoinToken, CAPin string
	// Insecure allows a plaintext stream to a control plane that is not on loopback.
	Insecure bool
	// Workers is how many processes serve the proxy's listeners, this one included (nginx's
	// worker_processes); 0 and 1 mean this process alone. The others are worker processes
	// this agent starts with WorkerCommand, hands their own SO_REUSEPORT sockets of the
	// listeners' addresses, and keeps running: each serves every config this agent applies
	// (the Ack follows their swaps) and publishes its own request records; one that exits
	// is started again on the same sockets, so connections waiting for it are not lost.
	Workers int
	// WorkerCommand returns the command that runs worker index (1 to Workers-1): this
	// program with this Config, calling RunWorker. The agent adds WorkerEnv, the worker's
	// files and its output. Required when Workers > 1.
	WorkerCommand func(index int) *exec.Cmd

	workerTimeouts workerTimeouts // tests shorten them
}

// Agent is one running edge agent. Create it with New, then call Run once.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	metrics  *metrics.Metrics
	proxy    *proxy.Proxy
	frontend *frontend.Server
	conn     *grpc.ClientConn
	stream   *stream.Client
	cache    *cache.Log // nil without CacheDir

	telemetry chan *edgeplanev1.TelemetrySettings // latest from the control plane, for runTelemetry
	traces    traceStats
	targets   *healthReporter // target health for the control plane and the gauge

	config atomic.Pointer[routeset.Set] // what the proxy serves; nil before any config
	mu     sync.Mutex                   // guards changed
	// changed is closed and replaced whenever config changes.
	changed chan struct{}

	ready       chan struct{} // closed once the listeners are bound
	metricsAddr string        // set before ready is closed

	mtls         bool        // the stream is mTLS; conn is made in Run once the agent has its certificate
	ownTelemetry atomic.Bool // the control plane sent this agent its own telemetry settings
	zBlocks      atomic.Bool // the control plane reads compressed blocks of request records

	pool *workerPool // the worker processes; nil without (Config.Workers <= 1)
}

// New checks cfg and prepares an Agent. It opens no sockets and reads no files.
func New(cfg Config) (*Agent, error) {
	if cfg.Workers > 1 && cfg.WorkerCommand == nil {
		return nil, errors.New("worker processes need a WorkerCommand")
	}
	a, err := newAgent(cfg, false)
	if err != nil {
		return nil, err
	}
	if cfg.Workers > 1 {
		a.pool = newWorkerPool(a, cfg.Workers-1, cfg.WorkerCommand)
	}
	if err := a.checkTransport(); err != nil {
		return nil, err
	}
	if !a.mtls {
		if err := a.dial(a.cfg.Logger.With("component", "stream"), insecure.NewCredentials(), nil); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// newAgent prepares the serving part of an Agent: what a worker process runs too. A worker's
// proxy follows the agent's active health checks instead of probing.
func newAgent(cfg Config, worker bool) (*Agent, error) {
	cfg.ControlPlane = cmp.Or(cfg.ControlPlane, DefaultControlPlane)
	cfg.HTTPAddr = cmp.Or(cfg.HTTPAddr, DefaultHTTPAddr)
	cfg.MetricsAddr = cmp.Or(cfg.MetricsAddr, DefaultMetricsAddr)
	cfg.DrainTimeout = cmp.Or(cfg.DrainTimeout, DefaultDrainTimeout)
	cfg.Backoff.Min = cmp.Or(cfg.Backoff.Min, backoff.DefaultMin)
	cfg.Backoff.Max = cmp.Or(cfg.Backoff.Max, DefaultReconnectMax)
	cfg.TraceBuffer = cmp.Or(cfg.TraceBuffer, DefaultTraceBuffer)
	if cfg.RedisURL != "" {
		if err := redisurl.Validate(cfg.RedisURL); err != nil {
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
	}
	if cfg.NodeID == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("no node id given and no host name: %w", err)
		}
		cfg.NodeID = h
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger
	a := &Agent{cfg: cfg, log: log.With("component", "agent"), metrics: metrics.New(),
		changed: make(chan struct{}), ready: make(chan struct{}), telemetry: make(chan *edgeplanev1.TelemetrySettings, 1)}
	a.metrics.SetTraceStats(a.traces.read)
	p, err := proxy.New(proxy.Config{Logger: log.With("component", "proxy"), Metrics: a.metrics,
		StripHeaders: cfg.StripHeaders, NodeID: cfg.NodeID, Limits: cfg.Limits, FollowChecks: worker})
	if err != nil {
		return nil, err
	}
	a.proxy = p
	if cfg.CacheDir != "" {
		a.cache = cache.NewLog(cfg.CacheDir, a.servedSnapshot, a.cacheEvent)
		a.cacheMetrics()
	}
	a.targets = newHealthReporter(p, a.metrics)
	a.frontend = frontend.New(frontend.Config{Proxy: p, HTTPAddr: cfg.HTTPAddr, HTTPSAddr: cfg.HTTPSAddr,
		ProxyProtocol: cfg.ProxyProtocol, ProxyProtocolFrom: cfg.ProxyProtocolFrom, ReusePort: cfg.ReusePort || cfg.Workers > 1, Metrics: a.metrics,
		Logger: log.With("component", "frontend")})
	return a, nil
}

// dial makes the stream's connection with creds; renew, if set, is the certificate the
// stream renews.
func (a *Agent) dial(log *slog.Logger, creds credentials.TransportCredentials, renew stream.Renewal) error {
	opts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		// Static windows turn off gRPC's BDP estimator, which answers most received messages
		// with a PING the control plane must read and answer: twice the packets per update.
		// 8 MiB lets a large snapshot flow without waiting on window updates.
		grpc.WithInitialWindowSize(8 << 20), grpc.WithInitialConnWindowSize(8 << 20),
		// gRPC redials on its own schedule (up to 2 minutes apart by default); keep it at
		// half the agent's ceiling (at most 1.2x that with its jitter) so the channel is
		// ready again by the time the agent's next attempt comes after a heal.
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: grpcbackoff.Config{
			BaseDelay: a.cfg.Backoff.Min, Multiplier: 1.6, Jitter: 0.2,
			MaxDelay: max(a.cfg.Backoff.Max/2, a.cfg.Backoff.Min),
		}, MinConnectTimeout: 5 * time.Second}),
	}, a.cfg.DialOptions...)
	conn, err := grpc.NewClient(a.cfg.ControlPlane, opts...)
	if err != nil {
		return fmt.Errorf("control plane address %q: %w", a.cfg.ControlPlane, err)
	}
	a.conn = conn
	a.stream = stream.New(stream.Config{
		Conn: conn, Applier: (*applier)(a), NodeID: a.cfg.NodeID, Labels: a.cfg.Labels,
		Version: a.cfg.Version, Backoff: a.cfg.Backoff, Logger: log, OnConnected: a.metrics.SetConnected,
		Renewal: renew, OnSettings: a.onSettings, TargetHealth: a.targets.Latest,
	})
	return nil
}
