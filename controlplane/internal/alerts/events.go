package alerts

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
)

var _ streams.Handler = (*Manager)(nil)

// maxEventAge is the age past which events are acknowledged without effect: a new consumer
// group starts at the beginning of the events stream, and its history must not page anyone.
const maxEventAge = 10 * time.Minute

// Handle implements streams.Handler for the events stream: certificate_failed,
// certificate_expiring, service_died and service_oom fire their rules' alerts;
// certificate_ready, service_started and service_deleted resolve them; agent_connected,
// agent_disconnected, target_unhealthy and target_healthy make Run evaluate at once. Other
// events, and events older than maxEventAge, are acknowledged and ignored. Entries handled are acknowledged; on a Redis
// error the rest stay pending for a retry.
func (m *Manager) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	done := make([]string, 0, len(msgs))
	var err error
	for _, msg := range msgs {
		if time.Since(streams.IDTime(msg.ID)) <= maxEventAge {
			if err = m.handleEvent(ctx, fields(msg.Values)); err != nil {
				break
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

func fields(values map[string]any) map[string]string {
	out := make(map[string]string, len(values))
	for k, v := range values {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

func (m *Manager) handleEvent(ctx context.Context, e map[string]string) error {
	now := time.Now()
	cert, service := first(e, "certificate", "name"), first(e, "service", "name")
	switch e["event_type"] {
	case telemetry.AgentConnected, telemetry.AgentDisconnected, telemetry.TargetUnhealthy, telemetry.TargetHealthy:
		m.evaluateSoon()
	case telemetry.CertificateFailed:
		return m.fireKind(ctx, CertificateFailure, func(r Rule) (Alert, bool) {
			return newAlert(r, map[string]string{"certificate": cert}, now,
				fmt.Sprintf("certificate %s failed", cert), "issuing or renewing failed: "+e["error"]), true
		})
	case telemetry.CertificateExpiring:
		left, ok := validityLeft(e, now)
		if !ok {
			return nil
		}
		return m.fireKind(ctx, CertificateExpiry, func(r Rule) (Alert, bool) {
			return newAlert(r, map[string]string{"certificate": cert}, now,
				fmt.Sprintf("certificate %s expires in %d days", cert, int(left.Hours()/24)),
				fmt.Sprintf("not after %s (threshold %d days)", e["not_after"], int(r.Duration.Hours()/24))), left < r.Duration
		})
	case telemetry.CertificateReady:
		return m.resolveKinds(ctx, map[string]string{"certificate": cert}, CertificateFailure, CertificateExpiry)
	case telemetry.ServiceDied, "service_oom":
		return m.fireKind(ctx, ServiceDied, func(r Rule) (Alert, bool) {
			return newAlert(r, map[string]string{"service": service}, now,
				fmt.Sprintf("service %s died", service),
				fmt.Sprintf("%s: exit code %s", e["event_type"], e["exit_code"])), true
		})
	case telemetry.ServiceStarted, telemetry.ServiceDeleted:
		return m.resolveKinds(ctx, map[string]string{"service": service}, ServiceDied)
	}
	return nil
}

// validityLeft reads a certificate_expiring event's not_after (RFC 3339) or days_left.
func validityLeft(e map[string]string, now time.Time) (time.Duration, bool) {
	if t, err := time.Parse(time.RFC3339, e["not_after"]); err == nil {
		return t.Sub(now), true
	}
	if d, err := strconv.ParseFloat(e["days_left"], 64); err == nil {
		return time.Duration(d * float64(24*time.Hour)), true
	}
	return 0, false
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

// first returns the first non-empty of e's keys.
func first(e map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := e[k]; v != "" {
			return v
		}
	}
	return ""
}
