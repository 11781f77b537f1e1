package proxy

import (
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// TargetState is one route's target as this agent sees it.
type TargetState struct {
	Route, Target string // the route's name, the target's URL as configured
	Healthy       bool
	Reason        string // why it is unhealthy; empty when healthy
}

// health reports whether t gets requests at now (unix nanoseconds) and, if not, why: it
// fails its active health checks, or passive health ejected it. It is the one place that
// reads t's health for reporting.
func (t *target) health(now int64) (healthy bool, reason string) {
	if t.active.down() {
		if e := t.active.lastErr.Load(); e != nil {
			return false, clipReason("failing active health checks: " + *e)
		}
		return false, "failing active health checks"
	}
	if t.ejectedUntil.Load() > now {
		if r := t.ejectReason.Load(); r != nil {
			return false, *r
		}
		return false, "ejected by passive health"
	}
	return true, ""
}

// maxReasonBytes bounds the reason a target reports (the control plane refuses longer).
const maxReasonBytes = 200

// ejected records why t was ejected after failures consecutive failures, the last err.
// Not the hot path: called once per ejection.
func (t *target) ejected(failures int32, err error) {
	r := clipReason(fmt.Sprintf("ejected after %d consecutive failures: %v", failures, err))
	t.ejectReason.Store(&r)
}

// clipReason cuts r to maxReasonBytes on a rune boundary and makes it valid UTF-8
// (reports are protobuf strings).
func clipReason(r string) string {
	if len(r) > maxReasonBytes {
		cut := maxReasonBytes
		for cut > 0 && !utf8.RuneStart(r[cut]) {
			cut--
		}
		r = r[:cut]
	}
	return strings.ToValidUTF8(r, "?")
}

// TargetHealth returns the health of every target of every route being served, ordered by
// route then target URL. Not the hot path: it walks the whole table (call it when
// HealthChanged fires, or about once a second to see cooldowns end).
func (p *Proxy) TargetHealth() []TargetState {
	tb := p.table.Load()
	if tb == nil {
		return nil
	}
	now := nanotime()
	var out []TargetState
	for name, rt := range tb.byName.All() {
		if rt.up == nil {
			continue
		}
		for _, t := range rt.up.targets {
			ok, why := t.health(now)
			out = append(out, TargetState{Route: name, Target: t.raw, Healthy: ok, Reason: why})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Route != out[j].Route {
			return out[i].Route < out[j].Route
		}
		return out[i].Target < out[j].Target
	})
	return out
}

// HealthChanged returns a channel that receives a value when a target is ejected (a
// target's cooldown ending sends nothing: poll TargetHealth for that). One pending value
// at most: changes coalesce.
func (p *Proxy) HealthChanged() <-chan struct{} { return p.healthKick }

func (p *Proxy) healthChanged() {
	select {
	case p.healthKick <- struct{}{}:
	default:
	}
}
