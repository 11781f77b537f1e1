package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
)

// eventClaimTTL is how long a claimed engine event stays claimed; replicas see the same
// event within milliseconds of each other.
const eventClaimTTL = 10 * time.Minute

// Run follows the engine's events for this namespace's containers until ctx ends. Each
// time it (re)connects it first reconciles (see Reconcile). A die that edgeplane did not
// ask for becomes service_died and withdraws the service's endpoint; a start publishes it
// again; oom becomes service_oom and health changes service_health. When several replicas
// share the engine, each event is reported by one of them. It returns nil when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	b := backoff.New(backoff.Config{Min: 500 * time.Millisecond, Max: 30 * time.Second})
	for {
		err := m.follow(ctx, b)
		if ctx.Err() != nil {
			return nil
		}
		m.log.WarnContext(ctx, "docker events stream ended; reconnecting", "err", err)
		if b.Wait(ctx) != nil {
			return nil
		}
	}
}

func (m *Manager) follow(ctx context.Context, b *backoff.Backoff) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := m.engine.Events(ctx, client.EventsListOptions{
		Filters: make(client.Filters).Add("type", "container").Add("label", LabelNamespace+"="+m.cfg.Namespace),
	})
	// Subscribed first, so nothing that happens while reconciling is missed.
	if err := m.Reconcile(ctx); err != nil {
		return err
	}
	b.Reset()
	for {
		select {
		case msg := <-res.Messages:
			m.handle(ctx, msg)
		case err := <-res.Err:
			return engineErr(err, "reading docker events")
		}
	}
}

func (m *Manager) handle(ctx context.Context, msg events.Message) {
	action := string(msg.Action)
	kind, status, _ := strings.Cut(action, ":")
	switch kind {
	case "die", "oom", "start", "health_status":
	default:
		return
	}
	name, id := msg.Actor.Attributes[LabelService], msg.Actor.ID
	if !m.claim(ctx, fmt.Sprintf("event:%s:%s:%d", id, action, msg.TimeNano)) {
		return
	}
	def, err := m.store.GetService(ctx, name)
	if err != nil || (def.GetContainerId() != "" && def.GetContainerId() != id) {
		return // not (or no longer) a service's current container
	}
	switch kind {
	case "die":
		if m.requested(def, time.Unix(0, msg.TimeNano)) {
			return
		}
		m.republish(ctx, def, false)
		m.emit(ctx, &event.ServiceDied{Service: name, ContainerID: id, ExitCode: msg.Actor.Attributes["exitCode"]})
	case "oom":
		m.emit(ctx, &event.ServiceOOM{Service: name, ContainerID: id})
	case "start":
		m.republish(ctx, def, true)
	case "health_status":
		m.emit(ctx, &event.ServiceHealth{Service: name, ContainerID: id, HealthStatus: strings.TrimSpace(status)})
	}
}

// requested says whether a container exit at t was edgeplane's doing: it came after the
// last stop (StopService, RestartService, UpdateService, DeleteService) and before any
// later start. The engine's and the control plane's clocks may differ by up to a second.
func (m *Manager) requested(def *edgeplanev1.Service, t time.Time) bool {
	if def.GetStopTime() == nil {
		return false
	}
	stop, start := def.GetStopTime().AsTime(), def.GetStartTime().AsTime()
	if t.Before(stop.Add(-time.Second)) {
		return false
	}
	return def.GetStartTime() == nil || start.Before(stop) || t.Before(start)
}

func (m *Manager) republish(ctx context.Context, def *edgeplanev1.Service, running bool) {
	if _, err := m.publish(ctx, def, running); err != nil {
		m.log.ErrorContext(ctx, "publishing service endpoints", "service", def.GetName(), "running", running, "err", err)
	}
}
