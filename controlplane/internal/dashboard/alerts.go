package dashboard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Bounds of the Alerts page's "recent" list.
const (
	recentAlerts  = 50
	recentSince   = time.Hour
	recentTimeout = 500 * time.Millisecond
)

type alertsData struct {
	Firing []*edgeplanev1.FiringAlert
	Recent []*edgeplanev1.StreamEntry // alert_fired and alert_resolved events, newest first
	Rules  []ruleRow
}

type ruleRow struct {
	alerts.Rule
	Condition string
}

// alertsPage shows the firing alerts, the last hour's alert events and the rules.
func (d *Dashboard) alertsPage(w http.ResponseWriter, r *http.Request, v visitor) {
	firing, err := d.tel.ListAlerts(v.ctx(r), &edgeplanev1.ListAlertsRequest{})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	data := alertsData{Firing: firing.GetAlerts()}
	if data.Recent, err = d.recentAlerts(r, v); err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	for _, rule := range d.cfg.Rules {
		data.Rules = append(data.Rules, ruleRow{Rule: rule, Condition: condition(rule)})
	}
	d.render(w, r, http.StatusOK, "alerts", page{Title: "Alerts", Nav: "alerts", Refresh: 5000, V: v, Data: data})
}

// recentAlerts reads the alert events of the last recentSince through TailEvents, for at
// most recentTimeout, keeping the newest recentAlerts.
func (d *Dashboard) recentAlerts(r *http.Request, v visitor) ([]*edgeplanev1.StreamEntry, error) {
	ctx, cancel := context.WithTimeout(v.ctx(r), recentTimeout)
	defer cancel()
	after := strconv.FormatInt(clock.Now().Add(-recentSince).UnixMilli(), 10) + "-0"
	stream, err := d.tel.TailEvents(ctx, &edgeplanev1.TailEventsRequest{EventTypes: []string{"alert_fired", "alert_resolved"}, AfterId: after})
	if err != nil {
		return nil, err
	}
	var got []*edgeplanev1.StreamEntry
	for {
		e, err := stream.Recv()
		if err != nil {
			if caughtUp(ctx, err) {
				break // the deadline ends the read: what came is what there is
			}
			return nil, err
		}
		got = append(got, e.GetEvent())
		if len(got) > recentAlerts {
			got = got[1:]
		}
	}
	for i, j := 0, len(got)-1; i < j; i, j = i+1, j-1 {
		got[i], got[j] = got[j], got[i]
	}
	return got, nil
}

// caughtUp: a TailEvents read ended by recentTimeout, seen from either side (the server's
// copy of the deadline may end the stream, cleanly, just before the client's does).
func caughtUp(ctx context.Context, err error) bool {
	return ctx.Err() != nil || errors.Is(err, io.EOF) || status.Code(err) == codes.DeadlineExceeded
}

// condition says in words when a rule fires.
func condition(r alerts.Rule) string {
	switch r.Kind {
	case alerts.ErrorRate:
		return fmt.Sprintf("5xx above %.1f%% of a host's requests (at least %d)", 100*r.Threshold, r.MinRequests)
	case alerts.Latency:
		return fmt.Sprintf("p99 above %s (at least %d requests)", r.Duration, r.MinRequests)
	case alerts.CertificateExpiry:
		return fmt.Sprintf("a certificate expires within %s", roughly(r.Duration))
	case alerts.CertificateFailure:
		return "a certificate cannot be obtained or renewed"
	case alerts.ServiceDied:
		return "a Docker service's container dies"
	case alerts.TelemetryStore:
		return "the telemetry Redis drops records or cannot be reached"
	case alerts.AgentDown:
		return fmt.Sprintf("an agent disconnected for %s", r.Duration)
	case alerts.ConsumerLag:
		return fmt.Sprintf("consumer group %q lags more than %s", r.Group, r.Duration)
	}
	return string(r.Kind)
}
