package docker

import (
	"context"
	"fmt"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Reconcile compares the stored services with this namespace's containers. Containers
// that no service names are reported (service_unknown_container) and left alone; services
// whose container is gone are reported (service_missing; they show state MISSING until
// StartService recreates the container); and every service's endpoint is republished from
// what actually runs. With several replicas, each finding is reported by one of them.
// Services changed within Config.SettleTime are skipped: an operation on them may be in
// flight.
func (m *Manager) Reconcile(ctx context.Context) error {
	defs, err := m.store.ListServices(ctx)
	if err != nil {
		return fmt.Errorf("reconciling services: %w", err)
	}
	list, err := m.engine.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", LabelNamespace+"="+m.cfg.Namespace),
	})
	if err != nil {
		return engineErr(err, "reconciling services: listing containers")
	}
	byService := make(map[string]container.Summary, len(list.Items))
	for _, c := range list.Items {
		byService[c.Labels[LabelService]] = c
	}
	known := make(map[string]bool, len(defs))
	for _, d := range defs {
		known[d.GetName()] = true
		if clock.Since(d.GetUpdateTime().AsTime()) < m.cfg.SettleTime {
			continue
		}
		c, ok := byService[d.GetName()]
		if !ok && m.claim(ctx, "missing:"+d.GetName()+":"+d.GetContainerId()) {
			m.emit(ctx, &event.ServiceMissing{Service: d.GetName(), ContainerID: d.GetContainerId()})
		}
		m.republish(ctx, d, ok && c.State == container.StateRunning)
	}
	for name, c := range byService {
		if !known[name] && m.claim(ctx, "unknown:"+c.ID) {
			m.emit(ctx, &event.ServiceUnknownContainer{Service: name, ContainerID: c.ID, ContainerNames: strings.Join(c.Names, ",")})
		}
	}
	m.log.InfoContext(ctx, "services reconciled", "services", len(defs), "containers", len(list.Items))
	return nil
}

// claim says whether this replica is the first to report id (within eventClaimTTL). When
// Redis cannot tell, it reports.
func (m *Manager) claim(ctx context.Context, id string) bool {
	ok, err := m.store.ClaimEvent(ctx, id, eventClaimTTL)
	return ok || err != nil
}
