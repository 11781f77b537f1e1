package proxy

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// picker chooses a route's target for each request: by weight among the healthy targets,
// or among all of them in panic mode, when fewer than panicBelow percent of the targets
// (by count, as Envoy's healthy_panic_threshold) are healthy or none is.
//
// The choice is made from a pickSet, an immutable snapshot of which targets are healthy,
// swapped atomically. A snapshot is rebuilt when a target is ejected (rebuild, called by
// the one failing request that ejected it) and when the first ejected target's cooldown
// has passed (pick sees now >= until). Between those events every pick reads the same
// snapshot: no allocation, no lock.
type picker struct {
	targets    []*target
	all        *balancer // over every target: used when all are healthy and in panic mode
	weights    []uint32
	panicBelow int // percent of targets that must be healthy to avoid panic mode

	// onPanic, if set, is called (under mu) when the picker enters (true) or leaves panic mode.
	onPanic func(enter bool, healthy, total int, now int64)

	set atomic.Pointer[pickSet]
	mu  sync.Mutex // serialises rebuilds, so the last snapshot stored saw every ejection before it
}

// pickSet is one snapshot of the targets a picker chooses from.
type pickSet struct {
	idx   []int     // indexes of the targets chosen from; nil means every target
	bal   *balancer // over idx (or every target), by their weights
	until int64     // unix nanoseconds when an ejected target returns; MaxInt64 if none is out
	panic bool      // fewer healthy targets than the threshold: choosing among all of them
}

func newPicker(targets []*target, weights []uint32, panicBelow int) *picker {
	p := &picker{targets: targets, weights: weights, all: newBalancer(weights), panicBelow: panicBelow}
	p.set.Store(&pickSet{bal: p.all, until: math.MaxInt64})
	return p
}

// pick returns the next target other than avoid, or nil when avoid is the only target to
// choose from. Hot path: an atomic load, a comparison and the balancer's pick, unless a
// cooldown has just ended.
func (p *picker) pick(now int64, avoid *target) *target {
	s := p.set.Load()
	if now >= s.until {
		s = p.refresh(now)
	}
	i := s.bal.pick()
	if t := s.target(p.targets, i); t != avoid {
		return t
	}
	n := len(p.targets)
	if s.idx != nil {
		n = len(s.idx)
	}
	if n == 1 {
		return nil
	}
	return s.target(p.targets, (i+1)%n) // a retry: the next one, weights aside
}

func (s *pickSet) target(targets []*target, i int) *target {
	if s.idx == nil {
		return targets[i]
	}
	return targets[s.idx[i]]
}

// refresh rebuilds the snapshot if no other goroutine has since it was found stale at now.
func (p *picker) refresh(now int64) *pickSet {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.set.Load(); now < s.until {
		return s
	}
	return p.rebuildLocked(now)
}

// rebuild takes a new snapshot of the targets' health; call it after ejecting a target.
func (p *picker) rebuild(now int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rebuildLocked(now)
}

func (p *picker) rebuildLocked(now int64) *pickSet {
	s := &pickSet{until: math.MaxInt64}
	var weights []uint32
	for i, t := range p.targets {
		if until := t.ejectedUntil.Load(); until > now {
			s.until = min(s.until, until)
			continue
		}
		s.idx = append(s.idx, i)
		weights = append(weights, p.weights[i])
	}
	healthy := len(s.idx)
	s.panic = healthy == 0 || healthy*100 < p.panicBelow*len(p.targets)
	if s.panic || healthy == len(p.targets) {
		s.idx, s.bal = nil, p.all
	} else {
		s.bal = newBalancer(weights)
	}
	if old := p.set.Swap(s); old.panic != s.panic && p.onPanic != nil {
		p.onPanic(s.panic, healthy, len(p.targets), now)
	}
	return s
}

// panicLogEvery is the least time between two panic-mode log lines of one route.
const panicLogEvery = int64(10 * time.Second)

// pick returns the target of a request, or of its retry with avoid set (nil: none left).
// Hot path.
func (u *upstream) pick(now int64, avoid *target) *target { return u.picker.pick(now, avoid) }

// newPicker returns the picker of u's targets; entering panic mode is counted and logged,
// at most one log line per route every panicLogEvery.
func (u *upstream) newPicker(weights []uint32) *picker {
	p := newPicker(u.targets, weights, u.health.panicBelow)
	var lastLog int64
	var quiet int // transitions not logged since lastLog
	p.onPanic = func(enter bool, healthy, total int, now int64) {
		if enter {
			u.metrics.Panic()
		}
		if now-lastLog < panicLogEvery {
			quiet++
			return
		}
		msg := "route left panic mode: sending only to healthy targets"
		if enter {
			msg = "route in panic mode: too few healthy targets, sending to all of them"
		}
		u.log.Warn(msg, "healthy", healthy, "targets", total, "threshold_percent", u.health.panicBelow,
			"unlogged_changes", quiet)
		lastLog, quiet = now, 0
	}
	return p
}
