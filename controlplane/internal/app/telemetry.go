package app

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/metrics"
	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Consumer groups of the control plane.
const (
	metricsGroup = "metrics" // on the request stream
	alertsGroup  = "alerts"  // on the events stream
)

// buildTelemetry makes the request-metrics consumer and registers TelemetryService.
func (a *App) buildTelemetry() {
	names := telemetry.StreamNames(a.cfg.StreamNamespace)
	a.metrics = metrics.New(metrics.Config{Client: a.rdb, TracePrefix: names.TracePrefix})
	a.consumers = append(a.consumers, streams.New(streams.Config{
		Client: a.tail, Stream: names.Requests, Group: metricsGroup, Name: a.cfg.ReplicaID,
		Handler: a.metrics, Logger: a.log.With("component", "metrics"),
	}))
	a.telemetry = &api.Telemetry{
		Reader: &telemetry.Reader{Client: a.rdb, Blocking: a.readers, Streams: names,
			Groups: []telemetry.Group{{Stream: names.Requests, Group: metricsGroup}, {Stream: names.Events, Group: alertsGroup}}},
		Metrics: a.metrics,
	}
	a.alerts = alerts.New(alerts.Config{
		Client: a.rdb, Metrics: a.metrics, RequestStream: names.Requests, Agents: a.fanout,
		Events: a.events.For("alerts"), Publisher: a.pub, AlertsStream: names.Alerts,
		Webhooks: a.cfg.AlertWebhooks, Rules: a.cfg.AlertRules, ReplicaID: a.cfg.ReplicaID, KeyPrefix: a.cfg.StreamNamespace + "{alerts}:",
		Logger: a.log.With("component", "alerts"),
	})
	a.consumers = append(a.consumers, streams.New(streams.Config{
		Client: a.tail, Stream: names.Events, Group: alertsGroup, Name: a.cfg.ReplicaID,
		Handler: a.alerts, Logger: a.log.With("component", "alerts"),
	}))
	a.telemetry.Alerts = a.alerts
	edgeplanev1.RegisterTelemetryServiceServer(a.grpc, a.telemetry)
	a.prom.MustRegister(telemetry.NewCollector(telemetry.Collector{
		Client: a.rdb, Reader: a.telemetry.Reader, Publisher: a.pub, Connected: a.fanout.Connected,
	}))
}

// runConsumers runs the stream consumers and the alert manager in g until ctx ends.
func (a *App) runConsumers(ctx context.Context, g *errgroup.Group) {
	g.Go(func() error { return a.alerts.Run(ctx) })
	for _, c := range a.consumers {
		g.Go(func() error { return c.Run(ctx) })
	}
}
