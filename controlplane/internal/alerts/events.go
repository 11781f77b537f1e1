package alerts

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/clock"
)

var _ streams.Handler = (*Manager)(nil)

// maxEventAge is the age past which events are acknowledged without effect: a new consumer
// group starts at the beginning of the events stream, and its history must not page anyone.
const maxEventAge = 10 * time.Minute

// Handle implements streams.Handler for the events stream: certificate_failed,
// certificate_expiring, service_died and service_oom fire their rules' alerts;
// certificate_ready, service_started and service_deleted resolve them; agent_connected,
// agent_disconnected, target_unhealthy and target_healthy make Run evaluate at once. Other events, events that do not parse, and
// events older than maxEventAge, are acknowledged and ignored. Entries handled are
// acknowledged; on a Redis error the rest stay pending for a retry.
func (m *Manager) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	done := make([]string, 0, len(msgs))
	var err error
	for _, msg := range msgs {
		if clock.Since(streams.IDTime(msg.ID)) <= maxEventAge {
			if _, ev, perr := event.Parse(msg.Values); perr == nil {
				if err = m.handleEvent(ctx, ev); err != nil {
					break
				}
			}
		}
		done = append(done, msg.ID)
	}
	if len(done) > 0 {
		if aerr := m.cfg.Client.XAck(ctx, stream, group, done...).Err(); aerr != nil {
			err = errors.Join(err, fmt.Errorf("acknowledging events: %w", aerr))
		}
	}
	return nil, err
}

func (m *Manager) handleEvent(ctx context.Context, ev event.Event) error {
	now := clock.Now()
	switch e := ev.(type) {
	case *event.AgentConnected, *event.AgentDisconnected, *event.TargetUnhealthy, *event.TargetHealthy:
		m.evaluateSoon()
	case *event.CertificateFailed:
		return m.fireKind(ctx, CertificateFailure, func(r Rule) (Alert, bool) {
			return newAlert(r, map[string]string{"certificate": e.Certificate}, now,
				fmt.Sprintf("certificate %s failed", e.Certificate), "issuing or renewing failed: "+e.Error), true
		})
	case *event.CertificateExpiring:
		return m.certificateExpiring(ctx, e, now)
	case *event.CertificateReady:
		return m.resolveKinds(ctx, map[string]string{"certificate": e.Certificate}, CertificateFailure, CertificateExpiry)
	case *event.ServiceDied:
		return m.serviceDied(ctx, e.Service, fmt.Sprintf("%s: exit code %s", e.Type(), e.ExitCode), now)
	case *event.ServiceOOM:
		return m.serviceDied(ctx, e.Service, e.Type()+": killed for memory", now)
	case *event.ServiceStarted:
		return m.resolveKinds(ctx, map[string]string{"service": e.Service}, ServiceDied)
	case *event.ServiceDeleted:
		return m.resolveKinds(ctx, map[string]string{"service": e.Service}, ServiceDied)
	}
	return nil
}

// certificateExpiring fires the expiry rules whose threshold e's certificate is under (and
// resolves the others); an event without not_after is ignored.
func (m *Manager) certificateExpiring(ctx context.Context, e *event.CertificateExpiring, now time.Time) error {
	if e.NotAfter.IsZero() {
		return nil
	}
	left := e.NotAfter.Sub(now)
	return m.fireKind(ctx, CertificateExpiry, func(r Rule) (Alert, bool) {
		return newAlert(r, map[string]string{"certificate": e.Certificate}, now,
			fmt.Sprintf("certificate %s expires in %d days", e.Certificate, int(left.Hours()/24)),
			fmt.Sprintf("not after %s (threshold %d days)", e.NotAfter.UTC().Format(time.RFC3339), int(r.Duration.Hours()/24))), left < r.Duration
	})
}

func (m *Manager) serviceDied(ctx context.Context, service, description string, now time.Time) error {
	return m.fireKind(ctx, ServiceDied, func(r Rule) (Alert, bool) {
		return newAlert(r, map[string]string{"service": service}, now, fmt.Sprintf("service %s died", service), description), true
	})
}

// fireKind offers every rule of kind to build; the alerts it says hold fire, the others of
// the same identity resolve (a renewed certificate no longer under a rule's threshold).
func (m *Manager) fireKind(ctx context.Context, kind Kind, build func(Rule) (Alert, bool)) error {
	for _, r := range m.rules {
		if r.Kind != kind {
			continue
		}
		a, holds := build(r)
		var err error
		if holds {
			err = m.fire(ctx, a)
		} else {
			err = m.resolve(ctx, a.ID)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (m *Manager) resolveKinds(ctx context.Context, labels map[string]string, kinds ...Kind) error {
	for _, r := range m.rules {
		for _, k := range kinds {
			if r.Kind == k {
				if err := m.resolve(ctx, alertID(r.Name, labels)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
