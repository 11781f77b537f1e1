package alerts

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/internal/publish"
)

// notify sends a firing or resolved alert to every destination. It never blocks: the
// stream and events go through the non-blocking publisher, webhooks through their queues.
func (m *Manager) notify(ctx context.Context, a Alert, resolved bool) {
	status, level, msg := "firing", slog.LevelWarn, "alert firing"
	var ev event.Event = &event.AlertFired{Alert: eventOf(a)}
	if resolved {
		status, level, msg = "resolved", slog.LevelInfo, "alert resolved"
		ev = &event.AlertResolved{Alert: eventOf(a)}
	}
	attrs := event.Attrs(ev)
	m.log.LogAttrs(ctx, level, msg, attrs...)
	m.cfg.Events.Emit(ctx, ev)
	if m.cfg.Publisher != nil {
		values := []any{"status", status, "replica", m.cfg.ReplicaID}
		for _, at := range attrs {
			values = append(values, at.Key, at.Value.String())
		}
		m.cfg.Publisher.Publish(publish.Record{Stream: m.cfg.AlertsStream, Values: values})
	}
	if len(m.hooks) > 0 {
		body, err := json.Marshal([]webhookAlert{m.toWebhook(a)})
		if err != nil {
			m.log.ErrorContext(ctx, "encoding webhook alert", "alert_id", a.ID, "err", err)
			return
		}
		for _, h := range m.hooks {
			h.enqueue(ctx, m.log, body)
		}
	}
}

// webhookAlert is an alert in Prometheus Alertmanager's API format (POST /api/v2/alerts
// takes an array of them): EndsAt is set once resolved.
type webhookAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

func (m *Manager) toWebhook(a Alert) webhookAlert {
	labels := make(map[string]string, len(a.Labels)+2)
	for k, v := range a.Labels {
		labels[k] = v
	}
	labels["alertname"], labels["severity"] = a.Name, string(a.Severity)
	return webhookAlert{
		Labels:      labels,
		Annotations: map[string]string{"summary": a.Summary, "description": a.Description},
		StartsAt:    a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(), GeneratorURL: m.cfg.GeneratorURL,
	}
}

// eventOf is a's part of its alert_fired and alert_resolved events.
func eventOf(a Alert) event.Alert {
	labels, _ := json.Marshal(a.Labels)
	return event.Alert{AlertName: a.Name, Severity: string(a.Severity), AlertID: a.ID, Labels: string(labels),
		Summary: a.Summary, Description: a.Description, StartsAt: a.StartsAt, EndsAt: a.EndsAt}
}
