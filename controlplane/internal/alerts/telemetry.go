package alerts

import (
	"context"
	"time"

	"github.com/edgeplane/edgeplane/internal/clock"
)

// TelemetryHealth says why telemetry is being lost, "" when it is not (telemetry.Health):
// the telemetry Redis down or full, or publishers dropping records.
type TelemetryHealth interface {
	Problem(ctx context.Context) string
}

// checkTelemetry fires while telemetry is being lost.
func (rd *round) checkTelemetry(ctx context.Context, r Rule) []Alert {
	problem := rd.m.cfg.Telemetry.Problem(ctx)
	if problem == "" {
		return nil
	}
	return []Alert{newAlert(r, map[string]string{"store": "telemetry"}, rd.now,
		"telemetry is being dropped", problem+". Config writes and proxying go on; see README, \"Telemetry storage\".")}
}

// fireUnstored notifies a TelemetryStore alert that could not be recorded because the
// telemetry Redis, which holds the alert state, is the one failing. Without the shared
// state each replica notifies on its own, at most once per Cooldown; the alerts stream and
// events (in that Redis) drop it, the log and the webhooks get it.
func (m *Manager) fireUnstored(ctx context.Context, a Alert) {
	m.unstoredMu.Lock()
	if m.unstored == nil {
		m.unstored = map[string]time.Time{}
	}
	last, seen := m.unstored[a.ID]
	notify := !seen || a.StartsAt.Sub(last) >= m.cfg.Cooldown
	if notify {
		m.unstored[a.ID] = a.StartsAt
	}
	m.unstoredMu.Unlock()
	if notify {
		m.notify(ctx, a, false)
	}
}

// evaluateUnstored judges the TelemetryStore rules alone, when the alert state cannot be
// read (the telemetry Redis is down).
func (m *Manager) evaluateUnstored(ctx context.Context) {
	rd := &round{m: m, now: clock.Now()}
	for _, r := range m.rules {
		if r.Kind == TelemetryStore && m.hasSource(r) {
			for _, a := range rd.checkTelemetry(ctx, r) {
				m.fireUnstored(ctx, a)
			}
		}
	}
}
