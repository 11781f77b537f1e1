package alerts

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// round is one evaluation: the time it judges at and the sources read, each at most once.
type round struct {
	m     *Manager
	now   time.Time
	hosts map[string]*traffic  // nil until read
	fleet []*edgeplanev1.Agent // nil until read
}

// traffic is one host's requests over the window.
type traffic struct {
	requests, errors int64
	p99              time.Duration // the highest p99 of the host's routes
	slowRoute        string
}

func (m *Manager) hasSource(r Rule) bool {
	switch r.Kind {
	case ErrorRate, Latency:
		return m.cfg.Metrics != nil
	case AgentDown, NoHealthyTarget:
		return m.cfg.Agents != nil
	case TelemetryStore:
		return m.cfg.Telemetry != nil
	}
	return true
}

// check returns rule r's alerts whose condition holds now.
func (rd *round) check(ctx context.Context, r Rule) ([]Alert, error) {
	switch r.Kind {
	case ErrorRate, Latency:
		return rd.checkTraffic(ctx, r)
	case AgentDown:
		return rd.checkAgents(ctx, r)
	case NoHealthyTarget:
		return rd.checkTargets(ctx, r)
	case ConsumerLag:
		return rd.checkLag(ctx, r)
	case TelemetryStore:
		return rd.checkTelemetry(ctx, r), nil
	}
	return nil, nil
}

func (rd *round) traffic(ctx context.Context) (map[string]*traffic, error) {
	if rd.hosts != nil {
		return rd.hosts, nil
	}
	sums, err := rd.m.cfg.Metrics.Query(ctx, rd.m.cfg.RequestStream, "", rd.now.Add(-rd.m.cfg.Window), rd.now)
	if err != nil {
		return nil, err
	}
	rd.hosts = map[string]*traffic{}
	for _, s := range sums {
		t := rd.hosts[s.Host]
		if t == nil {
			t = &traffic{}
			rd.hosts[s.Host] = t
		}
		t.requests += s.Requests
		t.errors += s.StatusClasses["5xx"]
		if s.P99 > t.p99 {
			t.p99, t.slowRoute = s.P99, s.Route
		}
	}
	return rd.hosts, nil
}

// checkTraffic judges ErrorRate and Latency per host.
func (rd *round) checkTraffic(ctx context.Context, r Rule) ([]Alert, error) {
	hosts, err := rd.traffic(ctx)
	if err != nil {
		return nil, err
	}
	var out []Alert
	win := rd.m.cfg.Window
	for host, t := range hosts {
		if t.requests < r.MinRequests {
			continue
		}
		labels := map[string]string{"host": host}
		switch rate := float64(t.errors) / float64(t.requests); {
		case r.Kind == ErrorRate && rate > r.Threshold:
			out = append(out, newAlert(r, labels, rd.now,
				fmt.Sprintf("%.1f%% of requests to %s failed", 100*rate, host),
				fmt.Sprintf("%d of %d requests in the last %s answered 5xx (threshold %.1f%%)", t.errors, t.requests, win, 100*r.Threshold)))
		case r.Kind == Latency && t.p99 > r.Duration:
			out = append(out, newAlert(r, labels, rd.now,
				fmt.Sprintf("p99 latency of %s is %s", host, t.p99),
				fmt.Sprintf("route %s answered %s at p99 over the last %s (threshold %s, %d requests)", t.slowRoute, t.p99, win, r.Duration, t.requests)))
		}
	}
	return out, nil
}

// checkAgents fires for agents disconnected longer than r.Duration.
func (rd *round) checkAgents(ctx context.Context, r Rule) ([]Alert, error) {
	agents, err := rd.agents(ctx)
	if err != nil {
		return nil, err
	}
	var out []Alert
	for _, a := range agents {
		if down := rd.now.Sub(a.GetLastSeen().AsTime()); !a.GetConnected() && down > r.Duration {
			out = append(out, newAlert(r, map[string]string{"node_id": a.GetNodeId()}, rd.now,
				fmt.Sprintf("agent %s is down", a.GetNodeId()),
				fmt.Sprintf("agent %s has been disconnected since %s (%s; threshold %s)%s",
					a.GetNodeId(), a.GetLastSeen().AsTime().Format(time.RFC3339), down.Round(time.Second), r.Duration, lastError(a))))
		}
	}
	return out, nil
}

func lastError(a *edgeplanev1.Agent) string {
	if a.GetLastError() == "" {
		return ""
	}
	return "; last error: " + a.GetLastError()
}

// checkLag fires when r.Group lags on the request stream; a stream or group that does not
// exist yet has no lag.
func (rd *round) checkLag(ctx context.Context, r Rule) ([]Alert, error) {
	stream := rd.m.cfg.RequestStream
	lag, err := streams.GroupLag(ctx, rd.m.cfg.Client, stream, r.Group, rd.now)
	if err != nil {
		if msg := err.Error(); strings.Contains(msg, "no such key") || strings.Contains(msg, "no group") {
			return nil, nil
		}
		return nil, err
	}
	if lag.Age <= r.Duration {
		return nil, nil
	}
	return []Alert{newAlert(r, map[string]string{"stream": stream, "group": r.Group}, rd.now,
		fmt.Sprintf("consumer group %s is %s behind on %s", r.Group, lag.Age.Round(time.Millisecond), stream),
		fmt.Sprintf("oldest unprocessed entry is %s old (threshold %s); %d pending, %d undelivered",
			lag.Age.Round(time.Millisecond), r.Duration, lag.Pending, lag.Undelivered))}, nil
}

// Evaluate runs every periodic rule once: it fires the alerts whose condition holds and
// resolves the others. A rule whose source fails is skipped (its alerts stay as they are)
// and its error returned with the others'. A round whose ctx ends (the control plane
// stopping) judges nothing more: what failed because of that is no alert.
func (m *Manager) Evaluate(ctx context.Context) error {
	active, err := m.active(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		m.evaluateUnstored(ctx)
		return err
	}
	rd := &round{m: m, now: clock.Now()}
	var errs []error
	for _, r := range m.rules {
		if err := m.evaluateRule(ctx, rd, r, active); err != nil {
			errs = append(errs, fmt.Errorf("rule %s: %w", r.Name, err))
		}
	}
	if err := m.resolveOrphans(ctx, active, rd.now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (m *Manager) evaluateRule(ctx context.Context, rd *round, r Rule, active map[string]Alert) error {
	var firing []Alert
	if !r.eventDriven() {
		if !m.hasSource(r) {
			return nil
		}
		var err error
		if firing, err = rd.check(ctx, r); err != nil {
			return err
		}
	}
	seen := map[string]bool{}
	for _, a := range firing {
		seen[a.ID] = true
		if err := m.fire(ctx, a); err != nil {
			if r.Kind != TelemetryStore {
				return err
			}
			if _, stored := active[a.ID]; !stored {
				m.fireUnstored(ctx, a)
			}
		}
	}
	for id, a := range active {
		if a.Name != r.Name || seen[id] || (r.eventDriven() && rd.now.Sub(a.UpdatedAt) <= r.ResolveAfter) {
			continue
		}
		if err := m.resolve(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// orphanAfter is how long an alert of a rule this replica does not have (removed or renamed,
// or not rolled out here yet) may go without an update before it is resolved.
const orphanAfter = 24 * time.Hour

func (m *Manager) resolveOrphans(ctx context.Context, active map[string]Alert, now time.Time) error {
	for id, a := range active {
		known := slices.ContainsFunc(m.rules, func(r Rule) bool { return r.Name == a.Name })
		if !known && now.Sub(a.UpdatedAt) > orphanAfter {
			if err := m.resolve(ctx, id); err != nil {
				return err
			}
		}
	}
	return nil
}
