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
	walked  *proxy.Table             // the table last walked, owned by run
	dynamic bool                     // the last walk saw a target whose health changes by itself

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

// reporterDuty bounds the share of a core the reporter's walks over the table may take: after
// a walk that took d, the next one waits at least d*reporterDuty (a walk over 100,000 routes
// takes a large fraction of a second on a small machine).
const reporterDuty = 20

// run refreshes the report on every signalled change and every healthPoll until ctx ends. A
// poll that can find nothing new (the same table, every target healthy and no active checks)
// is skipped, so a large, steady table costs nothing; polls are spaced by reporterDuty times
// the last walk's duration. A signalled change (an ejection) is walked at once.
func (h *healthReporter) run(ctx context.Context) error {
	kicked := true
	for {
		start := time.Now()
		if kicked || h.mayChange() {
			h.refresh(start)
		}
		gap := reporterDuty * time.Since(start)
		t := time.NewTimer(max(healthPoll, gap))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
			kicked = false
		case <-h.proxy.HealthChanged():
			t.Stop()
			kicked = true // at once: an ejection may last only a second
		}
	}
}

// mayChange reports whether a refresh could find something new: the table changed since the
// last walk, or that walk saw a target whose health changes by itself (unhealthy: a cooldown
// ends; actively checked).
func (h *healthReporter) mayChange() bool {
	return h.proxy.Table() != h.walked || h.dynamic
}

// refresh reads the proxy's target health; if anything changed it updates the gauge and
// publishes a new report.
func (h *healthReporter) refresh(now time.Time) {
	h.walked = h.proxy.Table() // before the walk: a table swapped in meanwhile is walked next time
	states := h.proxy.TargetHealth()
	h.dynamic = h.walked != nil && h.walked.ActiveChecks()
	for _, s := range states {
		if !s.Healthy {
			h.dynamic = true
			break
		}
	}
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
		first, n int // states[first:first+n], the ones under maxTargetBytes
		sick     bool
	}
	var groups []*group
	var idx []int // indexes of the states reported, grouped
	for i, s := range states {
		if len(s.Target) > maxTargetBytes {
			continue // the control plane refuses such a report (and its own routes have none)
		}
		if i == 0 || states[i-1].Route != s.Route || len(groups) == 0 {
			groups = append(groups, &group{first: len(idx)})
		}
		g := groups[len(groups)-1]
		g.sick = g.sick || !s.Healthy
		g.n++
		idx = append(idx, i)
	}
	sort.SliceStable(groups, func(i, j int) bool { return groups[i].sick && !groups[j].sick })
	var out []*edgeplanev1.TargetHealth
	for _, g := range groups {
		if len(out)+g.n > MaxReportTargets {
			continue
		}
		for _, i := range idx[g.first : g.first+g.n] {
			s := states[i]
			out = append(out, &edgeplanev1.TargetHealth{Route: s.Route, Target: s.Target, Healthy: s.Healthy,
				Reason: s.Reason, Since: timestamppb.New(seen[targetKey{s.Route, s.Target}].since)})
		}
	}
	return out
}
