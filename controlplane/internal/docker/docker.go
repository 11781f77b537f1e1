// Package docker runs edgeplane's backend services as containers on a Docker engine:
// validation, container lifecycle, observed state, logs, the engine's events and startup
// reconciliation. Definitions are kept in Redis (store/services.go); each service's host
// port is leased from the port allocator (purpose "service", owner "service/<name>"); and
// where a service can be reached is published to agents as a KindService config resource,
// with no targets while it is not running.
//
// Containers are named "<namespace>-<service>" and labelled io.edgeplane.managed=true,
// io.edgeplane.namespace=<namespace> and io.edgeplane.service=<service>; only containers
// with this namespace's label are ever touched.
package docker

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/ports"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// Container labels.
const (
	LabelManaged   = "io.edgeplane.managed"
	LabelNamespace = "io.edgeplane.namespace"
	LabelService   = "io.edgeplane.service"
	labelPrefix    = "io.edgeplane."
)

// PortPurpose is the port allocator purpose of services' host ports.
const PortPurpose = "service"

// Config configures a Manager.
type Config struct {
	// Engine is the Docker client (*client.Client). Required.
	Engine Engine
	// Store keeps definitions and publishes endpoints. Required.
	Store *store.Store
	// Ports leases host ports. Required.
	Ports *ports.Allocator
	// Namespace tells this control plane's containers from others' on a shared engine.
	// Default "edgeplane".
	Namespace string
	// PublishAddress is the host IP published ports bind to, and the host of the endpoints
	// agents are sent to. Default "127.0.0.1".
	PublishAddress string
	// Policy limits the images and users services may run and sets default limits.
	Policy Policy
	// Fresh says the caller has never seen a config revision (store.Op.Fresh). Nil: false.
	Fresh func() bool
	// Events receives the service events (event.ServiceCreated, ServiceStarted,
	// ServiceStopped, ServiceDied, ServiceOOM, ServiceHealth, ServiceDeleted, ServiceMissing
	// and ServiceUnknownContainer). Nil: they are only logged.
	Events func(ctx context.Context, e event.Event)
	// SettleTime: Reconcile leaves alone services changed this recently, whose operation may
	// still be in flight. Default 30s.
	SettleTime time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Manager performs service operations. It is safe for concurrent use, also by several
// replicas sharing one engine and one Redis.
type Manager struct {
	cfg    Config
	engine Engine
	store  *store.Store
	ports  *ports.Allocator
	log    *slog.Logger
	cpus   atomic.Int64 // the engine's CPU count, once known (0 before)
	policy Policy
}

// New returns a Manager.
func New(cfg Config) *Manager {
	if cfg.Namespace == "" {
		cfg.Namespace = "edgeplane"
	}
	if cfg.PublishAddress == "" {
		cfg.PublishAddress = "127.0.0.1"
	}
	if cfg.SettleTime <= 0 {
		cfg.SettleTime = 30 * time.Second
	}
	if cfg.Fresh == nil {
		cfg.Fresh = func() bool { return false }
	}
	m := &Manager{cfg: cfg, engine: cfg.Engine, store: cfg.Store, ports: cfg.Ports, log: cfg.Logger, policy: cfg.Policy.withDefaults()}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	return m
}

func (m *Manager) containerName(service string) string { return m.cfg.Namespace + "-" + service }

func owner(service string) string { return "service/" + service }

// emit logs an edgeplane event and hands it to the Events hook.
func (m *Manager) emit(ctx context.Context, e event.Event) {
	level := slog.LevelInfo
	switch e.(type) {
	case *event.ServiceDied, *event.ServiceOOM, *event.ServiceMissing, *event.ServiceUnknownContainer:
		level = slog.LevelWarn
	case *event.ServiceFailed:
		level = slog.LevelError
	}
	m.log.LogAttrs(ctx, level, e.Type(), append(event.Attrs(e), slog.String("event_type", e.Type()))...)
	if m.cfg.Events != nil {
		m.cfg.Events(ctx, e)
	}
}

// failed reports an operation that failed after the request was accepted (the engine or the
// port allocator refused it): a service_failed event with the operation and the error,
// logged at error. It returns err. A cancelled caller is not reported.
func (m *Manager) failed(ctx context.Context, op, service string, err error) error {
	if err != nil && ctx.Err() == nil {
		m.emit(ctx, &event.ServiceFailed{Service: service, Operation: op, Error: err.Error()})
	}
	return err
}
