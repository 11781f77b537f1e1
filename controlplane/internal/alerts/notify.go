package alerts

import (
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/publish"
)

// notify sends a firing or resolved alert to every destination. It never blocks: the
// stream and events go through the non-blocking publisher, webhooks through their queues.
func (m *Manager) notify(ctx context.Context, a Alert, resolved bool) {
	status, event, level, msg := "firing", telemetry.AlertFired, slog.LevelWarn, "alert firing"
	if resolved {
		status, event, level, msg = "resolved", telemetry.AlertResolved, slog.LevelInfo, "alert resolved"
	}
	labels, _ := json.Marshal(a.Labels)
	attrs := []slog.Attr{
		slog.String("alertname", a.Name), slog.String("severity", string(a.Severity)),
		slog.String("alert_id", a.ID), slog.String("labels", string(labels)),
		slog.String("summary", a.Summary), slog.String("description", a.Description),
		slog.String("starts_at", a.StartsAt.UTC().Format(time.RFC3339Nano)),
	}
	if resolved {
		attrs = append(attrs, slog.String("ends_at", a.EndsAt.UTC().Format(time.RFC3339Nano)))
	}
	m.log.LogAttrs(ctx, level, msg, attrs...)
	m.cfg.Events.Emit(ctx, event, attrs...)
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
