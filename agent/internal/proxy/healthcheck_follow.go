package proxy

import "time"

// ActiveCheck is what one target's active health checks found, as the agent's probers hold
// it: the agent's worker processes follow it (Config.FollowChecks) instead of probing the
// target themselves, so a host probes each target once and every process agrees.
type ActiveCheck struct {
	Route, Target string    // the route's name, the target's URL as configured
	Up            bool      // passed its checks (false: failed them)
	UpSince       time.Time // when it last came back from failing (slow start); zero if never
	LastErr       string    // why the last check failed; empty after a good one
}

// followKey names a checked target across processes: the route and the target URL (the
// check's settings are the route's, the same in every process serving one config).
type followKey struct{ route, url string }

// ActiveChecks returns the result of every running prober that has checked its target at
// least once. Not the hot path: the agent reads it a few times a second to relay.
func (p *Proxy) ActiveChecks() []ActiveCheck {
	cs := p.checks
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]ActiveCheck, 0, len(cs.running))
	for k, rc := range cs.running {
		st := rc.state.status.Load()
		if st == activeUnknown {
			continue
		}
		c := ActiveCheck{Route: k.route, Target: k.url, Up: st == activeUp}
		if ns := rc.state.upSince.Load(); ns != 0 {
			c.UpSince = time.Unix(0, ns)
		}
		if e := rc.state.lastErr.Load(); e != nil {
			c.LastErr = *e
		}
		out = append(out, c)
	}
	return out
}

// FollowActiveChecks sets the checked targets' health to what the agent's probers found
// (a proxy made with Config.FollowChecks runs no probers of its own). A target not in
// checks keeps its state; a target checked later starts from the latest result given for
// it here.
func (p *Proxy) FollowActiveChecks(checks []ActiveCheck) {
	cs := p.checks
	cs.mu.Lock()
	defer cs.mu.Unlock()
	for _, c := range checks {
		cs.followed[followKey{c.Route, c.Target}] = c
	}
	for k, rc := range cs.running {
		if c, ok := cs.followed[followKey{k.route, k.url}]; ok {
			follow(rc.state, c)
		}
	}
}

// follow sets s to c, telling the route's pickers if the status changed.
func follow(s *activeHealth, c ActiveCheck) {
	status := activeDown
	if c.Up {
		status = activeUp
	}
	var since int64
	if !c.UpSince.IsZero() {
		since = c.UpSince.UnixNano()
	}
	s.upSince.Store(since)
	if c.LastErr == "" {
		s.lastErr.Store(nil)
	} else {
		e := c.LastErr
		s.lastErr.Store(&e)
	}
	if s.status.Swap(status) != status {
		s.epoch.Add(1)
	}
}
