// Package app wires the control plane together: Redis clients, the store, the config state,
// agent sessions, the gRPC API and the HTTP health endpoint, and runs them until stopped.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/edgeplane/edgeplane/internal/redisurl"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/dashboard"
	"github.com/edgeplane/edgeplane/controlplane/internal/docker"
	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/pki"
	"github.com/edgeplane/edgeplane/controlplane/internal/ports"
	"github.com/edgeplane/edgeplane/controlplane/internal/routing"
	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// Config configures the control plane.
type Config struct {
	// RedisURL is the state store (see newRedis for the URL forms). Required unless Dev.
	RedisURL string
	// RedisMinReplicas, when positive, makes config writes wait (WAIT) until that many Redis
	// replicas confirm them before they are acknowledged; unconfirmed writes fail with
	// Unavailable (they may still take effect). RedisMinReplicasTimeout bounds the wait
	// (default store.DefaultMinReplicasTimeout). See ha.go.
	RedisMinReplicas        int
	RedisMinReplicasTimeout time.Duration
	// Dev runs on an embedded in-memory Redis-compatible store; nothing persists.
	Dev bool
	// Auth configures authentication and authorization (auth.go).
	Auth AuthConfig
	// DockerPolicy limits what Docker services may run (images, root, default limits).
	DockerPolicy docker.Policy
	// GRPCAddr is the API's listen address. Default 127.0.0.1:7000; port 0 picks one.
	GRPCAddr string
	// HTTPAddr serves /healthz and /readyz. Default 127.0.0.1:7001; "-" disables it.
	HTTPAddr string
	// ReplicaID names this replica in agent statuses. Default: host name and a random suffix.
	ReplicaID string
	// Namespace names every Redis key (internal/keyspace): state keys "{ns}:...", and, in a
	// namespace other than the default, the telemetry streams "ns:logs:all:stream", ...
	// Default "edgeplane".
	Namespace string
	// AgentRedisURL is sent to agents for publishing their request records; give it
	// credentials that may only XADD to the request stream. Empty: agents publish only if
	// their own --redis-url says where; Dev sends the embedded store. NoAgentRedis ("-"):
	// none, in dev mode too.
	AgentRedisURL string
	// StreamNamespace prefixes the telemetry streams' names (logs:all:stream, ...). Default:
	// none in the default Namespace, else Namespace + ":".
	StreamNamespace string
	// SecretsKeyFile holds the key that seals private keys in Redis (32 bytes, raw, hex or
	// base64). Without it private keys cannot be stored; Dev uses an ephemeral key.
	SecretsKeyFile string
	// DockerHost is the Docker engine services run on ("unix:///var/run/docker.sock",
	// "tcp://host:2376"). Default: DOCKER_HOST, then the local socket.
	DockerHost string
	// PortRanges maps port purposes to the ranges PortService leases from; purposes not
	// listed keep their defaults (ports.DefaultRanges: service 20000-29999, tcp 30000-30999).
	PortRanges map[string]ports.Range
	// ReservedPorts are never leased.
	ReservedPorts []ports.Range
	// PublishAddress is the host IP Docker services' ports are published on and the host of
	// their endpoints; agents must be able to reach it. Default 127.0.0.1.
	PublishAddress string
	// AlertWebhooks receive alerts in Prometheus Alertmanager's webhook format.
	AlertWebhooks []string
	// AlertRules replace the default alert rules (alerts.DefaultRules) when not nil.
	AlertRules []alerts.Rule
	// Heartbeat is how often agent statuses are refreshed. Default 5s.
	Heartbeat time.Duration
	// ShutdownTimeout bounds the graceful stop. Default 10s.
	ShutdownTimeout time.Duration
	// ACMEDirectory is the default ACME directory URL (empty: ACME needs a per-certificate
	// directory); ACMEEmail the account contact; ACMECAFile extra PEM roots to trust for the
	// CA; ACMERetryMin the first retry delay after a failed order (default 1m).
	ACMEDirectory, ACMEEmail, ACMECAFile string
	ACMERetryMin                         time.Duration
	// Telemetry places and bounds telemetry (see TelemetryConfig).
	Telemetry TelemetryConfig
	// Insecure serves plaintext gRPC without authentication; allowed only on a loopback
	// GRPCAddr. Dev implies it. Without it (and Dev) gRPC is TLS (see TLSConfig).
	Insecure bool
	TLSConfig
	// Dashboard is DashboardAuto (default), DashboardOn or DashboardOff (dashboard.go).
	Dashboard string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// App is a running control plane.
type App struct {
	cfg       Config
	log       *slog.Logger
	grpcLn    net.Listener
	httpLn    net.Listener
	mini      *miniredis.Miniredis
	secrets   *secrets.Box
	rdb       redis.UniversalClient // state reads and writes
	tail      redis.UniversalClient // blocking changelog reads
	tel       telemetryClients
	pub       *publish.Publisher
	trimmer   *telemetry.Trimmer
	events    *telemetry.Events
	metrics   *metrics.Processor
	consumers []*streams.Consumer
	telemetry *api.Telemetry
	prom      *prometheus.Registry
	alerts    *alerts.Manager
	state     *state.State
	selfSign  *certs.SelfSigned
	certs     *certs.Manager
	acmeHTTP  *http.Client // talks to the ACME CA
	fanout    *fanout.Fanout
	docker    *docker.Manager
	grpc      *grpc.Server
	policy    *auth.Policy        // the method table (auth.go)
	authn     *auth.Authenticator // says who is calling
	health    *health.Server
	sessions  chan struct{} // closed by endAll: ends every agent stream
	endAll    func()
	ca        *pki.CA // the cluster CA; nil with TLS off
	store     *store.Store
	dash      *dashboard.Dashboard // nil when not served
	dashPipe  *dashboardConn
}

// New opens the listeners and Redis clients. Call Run to serve; Run releases them.
func New(cfg Config) (*App, error) {
	a := &App{cfg: withDefaults(cfg), log: cfg.Logger}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("replica", a.cfg.ReplicaID)
	if err := a.checkTransport(); err != nil {
		return nil, err
	}
	if err := checkMinReplicas(a.cfg); err != nil {
		return nil, err
	}
	if err := a.checkDashboard(); err != nil {
		return nil, err
	}
	if err := a.open(); err != nil {
		a.closeAll()
		return nil, err
	}
	if err := a.openAuth(); err != nil {
		a.closeAll()
		return nil, err
	}
	a.store = store.New(store.Config{Client: a.rdb, ACLClient: a.tel.rdb, Namespace: a.cfg.Namespace, Secrets: a.secrets,
		MinReplicas: a.cfg.RedisMinReplicas, MinReplicasTimeout: a.cfg.RedisMinReplicasTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	creds, err := a.setupTLS(ctx, a.store)
	if err != nil {
		a.closeAll()
		return nil, err
	}
	a.build(creds)
	if err := a.buildDashboard(); err != nil {
		a.closeAll()
		return nil, err
	}
	return a, nil
}

func withDefaults(cfg Config) Config {
	if cfg.GRPCAddr == "" {
		cfg.GRPCAddr = "127.0.0.1:7000"
	}
	if cfg.HTTPAddr == "" {
		cfg.HTTPAddr = "127.0.0.1:7001"
	}
	if cfg.ReplicaID == "" {
		host, _ := os.Hostname()
		var b [3]byte
		_, _ = rand.Read(b[:])
		cfg.ReplicaID = host + "-" + hex.EncodeToString(b[:])
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	return cfg
}

func (a *App) open() error {
	url := a.cfg.RedisURL
	switch {
	case a.cfg.Dev:
		a.mini = miniredis.NewMiniRedis()
		if err := a.mini.StartAddr("127.0.0.1:0"); err != nil {
			return fmt.Errorf("starting the embedded store: %w", err)
		}
		url = "redis://" + a.mini.Addr()
		if a.cfg.AgentRedisURL == "" {
			a.cfg.AgentRedisURL = url
		}
		a.log.Warn("DEV MODE: state lives in an embedded in-memory store and is LOST when the control plane exits; use --redis-url in production")
	case url == "":
		return errors.New("no state store: set --redis-url (or EDGEPLANE_REDIS_URL), or --dev for an in-memory one")
	}
	if u := a.cfg.AgentRedisURL; u != "" && u != NoAgentRedis {
		if err := redisurl.Validate(u); err != nil {
			return fmt.Errorf("--agent-redis-url: %w", err)
		}
	}
	var err error
	switch {
	case a.cfg.SecretsKeyFile != "":
		if a.secrets, err = secrets.LoadFile(a.cfg.SecretsKeyFile); err != nil {
			return err
		}
	case a.cfg.Dev:
		a.secrets = secrets.Ephemeral()
		a.log.Warn("DEV MODE: private keys are sealed with an ephemeral key; set --secrets-key-file to keep them across restarts")
	}
	if a.rdb, err = newRedis(url, 64); err != nil {
		return err
	}
	if a.tail, err = newRedis(url, 32); err != nil {
		return err
	}
	if err = a.openTelemetry(url); err != nil {
		return err
	}
	if a.acmeHTTP, err = certs.HTTPClient(a.cfg.ACMECAFile); err != nil {
		return err
	}
	a.log = slog.New(telemetry.Tee(a.log.Handler(), a.pub, a.keys().Streams(), slog.LevelInfo))
	if a.grpcLn, err = net.Listen("tcp", a.cfg.GRPCAddr); err != nil {
		return fmt.Errorf("grpc listener: %w", err)
	}
	if a.cfg.HTTPAddr != "-" {
		if a.httpLn, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("http listener: %w", err)
		}
	}
	return nil
}

func (a *App) build(creds []grpc.ServerOption) {
	st := a.store
	var settings *edgeplanev1.TelemetrySettings
	if !a.tlsOn() { // with TLS each agent gets its own Redis user (enrollment.go)
		settings = a.agentTelemetry()
	}
	// Its consumers read compressed blocks of request records: agents are told to send them.
	a.state = state.New(state.Config{Store: st, Tail: a.tail, Telemetry: settings, RequestBlockEncoding: requestlog.ZBlockEncoding,
		Logger: a.log.With("component", "state")})
	a.selfSign = &certs.SelfSigned{Store: st, State: a.state, Logger: a.log.With("component", "certs")}
	a.events = telemetry.NewEvents(a.pub, a.keys().Streams())
	a.fanout = fanout.New(fanout.Config{
		State: a.state, Store: st, ReplicaID: a.cfg.ReplicaID, Heartbeat: a.cfg.Heartbeat, Events: a.events.For("fanout"),
		Logger: a.log.With("component", "fanout"), Settings: a.agentSettings(st), Renew: a.renewAgent,
	})
	a.sessions = make(chan struct{})
	a.endAll = sync.OnceFunc(func() { close(a.sessions) })
	a.prom = prometheus.NewRegistry()
	a.prom.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.grpc = grpc.NewServer(append(append(append(api.Interceptors(a.log, a.prom), a.guardOptions(st)...),
		grpc.ForceServerCodecV2(api.Codec()),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
	), append(flowControlOptions(), creds...)...)...)
	routes := routing.New(st, a.state)
	routes.Events = a.events.For("routing")
	edgeplanev1.RegisterRoutingServiceServer(a.grpc, &api.Routing{Routes: routes, Fleet: a.fanout})
	fleet := &api.Fleet{Fanout: a.fanout, Sessions: a.sessions}
	edgeplanev1.RegisterFleetServiceServer(a.grpc, fleet)
	a.buildTelemetry()
	edgeplanev1.RegisterAgentServiceServer(a.grpc, fleet)
	a.buildEnrollment(st, fleet)
	a.buildServices(st)
	a.buildCerts(st)
	a.buildApply(st)
	a.health = health.NewServer()
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(a.grpc, a.health)
	a.registerTokens(st)
	reflection.Register(a.grpc)
}

// GRPCAddr returns the API's bound address.
func (a *App) GRPCAddr() string { return a.grpcLn.Addr().String() }

// HTTPAddr returns the health endpoint's bound address ("" when disabled).
func (a *App) HTTPAddr() string {
	if a.httpLn == nil {
		return ""
	}
	return a.httpLn.Addr().String()
}

// ReplicaID returns this replica's name.
func (a *App) ReplicaID() string { return a.cfg.ReplicaID }

// buildServices wires PortService and DockerService. The Docker client connects lazily:
// without an engine, DockerService answers Unavailable and the events loop keeps retrying.
func (a *App) buildServices(st *store.Store) {
	ranges := maps.Clone(ports.DefaultRanges)
	maps.Copy(ranges, a.cfg.PortRanges)
	alloc := ports.New(ports.Config{Store: st, Ranges: ranges, Reserved: a.cfg.ReservedPorts,
		DefaultHost: a.cfg.PublishAddress, Events: a.events.For("ports").Emit, Logger: a.log.With("component", "ports")})
	edgeplanev1.RegisterPortServiceServer(a.grpc, &api.Ports{Allocator: alloc})
	engine, err := docker.NewClient(a.cfg.DockerHost)
	if err != nil {
		a.log.Error("Docker services disabled", "err", err)
		return
	}
	a.docker = docker.New(docker.Config{Engine: engine, Store: st, Ports: alloc, Namespace: a.cfg.Namespace,
		PublishAddress: a.cfg.PublishAddress, Policy: a.cfg.DockerPolicy, Fresh: a.state.Fresh,
		Events: a.events.For("docker").Emit, Logger: a.log.With("component", "docker")})
	edgeplanev1.RegisterDockerServiceServer(a.grpc, &api.Docker{Services: a.docker, Fleet: a.fanout})
}
