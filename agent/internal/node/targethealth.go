package node

import (
	"context"
	"sort"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// MaxReportTargets bounds the targets of one health report (the control plane refuses
// more). Beyond it whole routes are left out, those with an unhealthy target kept first.
const MaxReportTargets = 1000

// maxTargetBytes bounds a reported target URL, as the control plane does.
const maxTargetBytes = 2048

// healthPoll is how often target health is read without a change being signalled: how
// soon a target whose cooldown ended is reported healthy again.
const healthPoll = time.Second

// healthReporter keeps the report of the agent's target health current and the
// edgeplane_agent_target_healthy gauge with it.
type healthReporter struct {
	proxy   *proxy.Proxy
	metrics *metrics.Metrics
	last    map[targetKey]targetSeen // owned by run

	mu      sync.Mutex // guards report and changed
	report  *edgeplanev1.TargetHealthReport
	changed chan struct{} // closed when report is replaced
}

type targetKey struct{ route, target string }

type targetSeen struct {
	healthy bool
	reason  string
	since   time.Time
}

func newHealthReporter(p *proxy.Proxy, m *metrics.Metrics) *healthReporter {
	return &healthReporter{proxy: p, metrics: m, last: map[targetKey]targetSeen{},
		report: &edgeplanev1.TargetHealthReport{}, changed: make(chan struct{})}
}

// Latest returns the current report (never nil; callers must not modify it) and a channel
// closed once a newer one replaces it.
func (h *healthReporter) Latest() (*edgeplanev1.TargetHealthReport, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.report, h.changed
}

// run refreshes the report on every signalled change and every healthPoll until ctx ends.
func (h *healthReporter) run(ctx context.Context) error {
	t := time.NewTicker(healthPoll)
	defer t.Stop()
	for {
		h.refresh(time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-h.proxy.HealthChanged():
		}
	}
}

// refresh reads the proxy's target health; if anything changed it updates the gauge and
// publishes a new report.
func (h *healthReporter) refresh(now time.Time) {
	states := h.proxy.TargetHealth()
	next := make(map[targetKey]targetSeen, len(states))
	changed := len(states) != len(h.last)
	for _, s := range states {
		k := targetKey{s.Route, s.Target}
		prev, ok := h.last[k]
		seen := targetSeen{healthy: s.Healthy, reason: s.Reason, since: prev.since}
		if !ok || prev.healthy != s.Healthy {
			seen.since = now
			h.metrics.SetTargetHealthy(s.Route, s.Target, s.Healthy)
		}
		changed = changed || !ok || prev != seen
		next[k] = seen
	}
	for k := range h.last {
		if _, ok := next[k]; !ok {
			h.metrics.ForgetTarget(k.route, k.target)
		}
	}
	h.last = next
	if !changed {
		return
	}
	report := &edgeplanev1.TargetHealthReport{Targets: bounded(states, next)}
	h.mu.Lock()
	h.report = report
	close(h.changed)
	h.changed = make(chan struct{})
	h.mu.Unlock()
}

// bounded returns the report entries of states (ordered by route), at most
// MaxReportTargets of them in whole routes, routes with an unhealthy target first.
func bounded(states []proxy.TargetState, seen map[targetKey]targetSeen) []*edgeplanev1.TargetHealth {
	type group struct {
		entries []*edgeplanev1.TargetHealth
		sick    bool
	}
	var groups []*group
	for i, s := range states {
		if len(s.Target) > maxTargetBytes {
			continue // the control plane refuses such a report (and its own routes have none)
		}
		if i == 0 || states[i-1].Route != s.Route || len(groups) == 0 {
			groups = append(groups, &group{})
		}
		g := groups[len(groups)-1]
		g.sick = g.sick || !s.Healthy
		g.entries = append(g.entries, &edgeplanev1.TargetHealth{Route: s.Route, Target: s.Target, Healthy: s.Healthy,
			Reason: s.Reason, Since: timestamppb.New(seen[targetKey{s.Route, s.Target}].since)})
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].sick && !groups[j].sick })
	var out []*edgeplanev1.TargetHealth
	for _, g := range groups {
		if len(out)+len(g.entries) > MaxReportTargets {
			continue
		}
		out = append(out, g.entries...)
	}
	return out
}
