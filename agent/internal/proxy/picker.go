package proxy

import (
	"math"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"sync"
	"sync/atomic"
	"time"
)

// lbPolicy is a route's balancing algorithm (edgeplanev1.LbPolicy without UNSPECIFIED).
type lbPolicy uint8

const (
	lbRoundRobin   lbPolicy = iota // smooth weighted round robin (balancer)
	lbLeastRequest                 // power of two choices on requests in flight per weight
	lbHash                         // weighted rendezvous hashing on the request's key
)

// picker chooses a route's target for each request among the healthy targets: not ejected
// by passive health and not failing active checks; among all of them in panic mode, when
// fewer than panicBelow percent of the targets (by count, as Envoy's
// healthy_panic_threshold) are healthy or none is.
//
// The choice is made from a pickSet, an immutable snapshot of which targets are healthy
// and their effective weights, swapped atomically. A snapshot is rebuilt when a target is
// ejected (rebuild, called by the one failing request that ejected it), when the first
// ejected target's cooldown has passed or a slow-start step is due (pick sees
// now >= until), and when an active check of the route changed a target's status (pick
// sees a new epoch).
// Between those events every pick reads the same snapshot: no allocation, no lock.
type picker struct {
	targets    []*target
	all        *balancer // over every target: used when all are healthy and in panic mode
	weights    []uint32
	panicBelow int // percent of targets that must be healthy to avoid panic mode
	policy     lbPolicy
	slowStart  int64          // nanoseconds over which a returning target's weight ramps up; 0: none
	epoch      *atomic.Uint64 // active health changes; a new value means rebuild

	// onPanic, if set, is called (under mu) when the picker enters (true) or leaves panic mode.
	onPanic func(enter bool, healthy, total int, now int64)

	set atomic.Pointer[pickSet]
	mu  sync.Mutex // serialises rebuilds, so the last snapshot stored saw every ejection before it
}

// pickSet is one snapshot of the targets a picker chooses from.
type pickSet struct {
	idx   []int     // indexes of the targets chosen from; nil means every target
	w     []uint32  // their effective weights (slow start applied), in idx order
	bal   *balancer // over idx (or every target), by w
	until int64     // unix nanoseconds when an ejected target returns or a ramp step is due; MaxInt64 if none
	epoch uint64    // the active-health epoch this snapshot saw
	panic bool      // fewer healthy targets than the threshold: choosing among all of them
}

func newPicker(targets []*target, weights []uint32, panicBelow int) *picker {
	p := &picker{targets: targets, weights: weights, all: newBalancer(weights), panicBelow: panicBelow,
		epoch: new(atomic.Uint64)}
	p.set.Store(&pickSet{bal: p.all, w: weights, until: math.MaxInt64})
	return p
}

// pick returns the next target other than avoid, or nil when avoid is the only target to
// choose from. key is the request's hash key (used by lbHash only). Hot path: two atomic
// loads, a comparison and the policy's choice, unless the snapshot is stale.
func (p *picker) pick(now int64, avoid *target, key hashKey) *target {
	s := p.set.Load()
	if now >= s.until || s.epoch != p.epoch.Load() {
		s = p.refresh(now)
	}
	var i int
	switch {
	case p.policy == lbHash && key.ok:
		// The highest-scoring healthy target other than avoid: when the key's own target
		// is out, its keys spread over the others by the same scores.
		if i = rendezvous(key.h, p.targets, s.idx, p.weights, p.all.cum == nil, avoid); i < 0 {
			return nil
		}
		return s.target(p.targets, i)
	case p.policy == lbLeastRequest:
		i = p.leastRequest(s)
	default:
		i = s.bal.pick()
	}
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

// leastRequest draws two distinct candidates by weight (the second is the next target when
// the draw repeats the first) and returns the one with fewer requests in flight per unit of
// weight, the first on a tie. Hot path: two random numbers, two loads.
func (p *picker) leastRequest(s *pickSet) int {
	a, b := s.bal.random(), s.bal.random()
	if a == b {
		if s.bal.n == 1 {
			return a
		}
		b = (a + 1) % s.bal.n
	}
	la := s.target(p.targets, a).breaker.active.Load() + 1
	lb := s.target(p.targets, b).breaker.active.Load() + 1
	if la*int64(max(s.w[b], 1)) <= lb*int64(max(s.w[a], 1)) {
		return a
	}
	return b
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
	if s := p.set.Load(); now < s.until && s.epoch == p.epoch.Load() {
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
	s := &pickSet{until: math.MaxInt64, epoch: p.epoch.Load()}
	var since []int64 // per healthy target: when it came back, if within slow start
	ramping := false
	for i, t := range p.targets {
		until := t.ejectedUntil.Load()
		if until > now {
			s.until = min(s.until, until)
			continue
		}
		if t.active.down() {
			continue
		}
		back := p.returned(t, until, now)
		ramping = ramping || back != 0
		s.idx = append(s.idx, i)
		since = append(since, back)
	}
	healthy := len(s.idx)
	s.panic = healthy == 0 || healthy*100 < p.panicBelow*len(p.targets)
	switch {
	case s.panic || healthy == len(p.targets) && !ramping:
		s.idx, s.w, s.bal = nil, p.weights, p.all
	default:
		s.w = p.rampedWeights(s.idx, since, now)
		s.bal = newBalancer(s.w)
		if ramping {
			s.until = min(s.until, now+max(p.slowStart/rampSteps, int64(time.Millisecond)))
		}
	}
	if old := p.set.Swap(s); old.panic != s.panic && p.onPanic != nil {
		p.onPanic(s.panic, healthy, len(p.targets), now)
	}
	return s
}

// panicLogEvery is the least time between two panic-mode log lines of one route.
const panicLogEvery = int64(10 * time.Second)

// pick returns the target of a request with hash key key, or of its retry with avoid set
// (nil: none left). Hot path.
func (u *upstream) pick(now int64, avoid *target, key hashKey) *target {
	return u.picker.pick(now, avoid, key)
}

// newPicker returns the picker of u's targets; entering panic mode is counted and logged,
// at most one log line per route every panicLogEvery.
func (u *upstream) newPicker(weights []uint32, src *edgeplanev1.Route) *picker {
	p := newPicker(u.targets, weights, u.health.panicBelow)
	p.policy = policyOf(src.GetLoadBalancer().GetPolicy())
	p.slowStart = int64(max(src.GetHealthCheck().GetSlowStart().AsDuration(), 0))
	if src.GetHealthCheck() != nil {
		p.epoch = u.p.checks.epoch(u.name)
	}
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
	p.rebuild(nanotime()) // targets whose checks a rebuilt route kept may be out or ramping up
	return p
}

func policyOf(p edgeplanev1.LbPolicy) lbPolicy {
	switch p {
	case edgeplanev1.LbPolicy_LB_POLICY_LEAST_REQUEST:
		return lbLeastRequest
	case edgeplanev1.LbPolicy_LB_POLICY_HASH:
		return lbHash
	}
	return lbRoundRobin
}
