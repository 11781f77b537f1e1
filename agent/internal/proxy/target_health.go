package proxy

import "time"

// TargetHealth is one target's health as the agent sees it, for reporting (FleetService,
// Prometheus, events). Its fields are a stable contract: new ones may be added, none
// renamed or removed.
type TargetHealth struct {
	// URL is the target as configured.
	URL string
	// Ejected is true while passive health (outlier detection) keeps the target out;
	// EjectedUntil is when that ends (zero when not ejected).
	Ejected      bool
	EjectedUntil time.Time
	// Active is "" when the route has no health_check, else "unknown" (not checked yet:
	// in rotation), "healthy" or "unhealthy" (out of rotation).
	Active string
	// ActiveError is why the last active check failed ("" after a good one).
	ActiveError string
	// InFlight is the requests the agent has at the target now (holding a circuit-breaker
	// slot; waiting ones not counted).
	InFlight int64
}

// Active health states as reported in TargetHealth.Active.
const (
	ActiveUnknown   = "unknown"
	ActiveHealthy   = "healthy"
	ActiveUnhealthy = "unhealthy"
)

// healthState returns t's health at now (unix nanoseconds). Safe for concurrent use; it
// reads atomics only and never blocks a request.
func (t *target) healthState(now int64) TargetHealth {
	h := TargetHealth{URL: t.raw, InFlight: t.breaker.active.Load()}
	if until := t.ejectedUntil.Load(); until > now {
		h.Ejected, h.EjectedUntil = true, time.Unix(0, until)
	}
	if a := t.active; a != nil {
		h.Active = [...]string{ActiveUnknown, ActiveHealthy, ActiveUnhealthy}[a.status.Load()]
		if e := a.lastErr.Load(); e != nil {
			h.ActiveError = *e
		}
	}
	return h
}

// Healthy reports whether the picker may choose the target outside panic mode.
func (h TargetHealth) Healthy() bool { return !h.Ejected && h.Active != ActiveUnhealthy }

// TargetHealth returns the health of every target of every route t serves, by route name,
// in the route's target order. Not the hot path: it walks the table.
func (t *Table) TargetHealth() map[string][]TargetHealth {
	now := nanotime()
	out := make(map[string][]TargetHealth, t.byName.Len())
	for name, rt := range t.byName.All() {
		if rt.up == nil {
			continue
		}
		hs := make([]TargetHealth, len(rt.up.targets))
		for i, tg := range rt.up.targets {
			hs[i] = tg.healthState(now)
		}
		out[name] = hs
	}
	return out
}
