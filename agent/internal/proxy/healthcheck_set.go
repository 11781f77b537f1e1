package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// checkKey identifies one prober: a route's target URL under one check config. A config
// change that keeps the route's name, the target and its check keeps the prober and what
// it has learnt; any other change starts a new one.
type checkKey struct {
	route string
	url   string
	cfg   checkConfig
}

// checks owns the probers of every route's active health checks. Build asks it for each
// checked target's state (stateFor); Swap makes the probers match the table being served
// (reconcile): it starts the missing ones and stops, and waits for, those no longer used.
// Probers never touch the request path: they write their target's activeHealth, and
// pickers see the change through their route's epoch.
type checks struct {
	log    *slog.Logger
	client *http.Client
	live   atomic.Int32 // prober goroutines running, for tests

	mu      sync.Mutex // guards running, pending and epochs
	running map[checkKey]*runningCheck
	pending map[checkKey]*activeHealth // made by Build, not started yet
	epochs  map[string]*atomic.Uint64  // per checked route: bumped by every status change of its targets
	closed  bool
	// follow: run no probers; states are set by FollowActiveChecks (Config.FollowChecks),
	// from followed, the latest result given for each target.
	follow   bool
	followed map[followKey]ActiveCheck
}

type runningCheck struct {
	state  *activeHealth
	cancel context.CancelFunc
	done   chan struct{}
}

func newChecks(log *slog.Logger, follow bool) *checks {
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute,
		DisableCompression: true}
	return &checks{log: log,
		client: &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a redirect is an answer: its status is checked
		}},
		running: make(map[checkKey]*runningCheck), pending: make(map[checkKey]*activeHealth),
		epochs: make(map[string]*atomic.Uint64), follow: follow, followed: make(map[followKey]ActiveCheck)}
}

// stateFor returns the state of key's prober: the running one's, so a rebuilt route keeps
// what its checks learnt, or a new one (unknown: in rotation) that reconcile will start.
func (cs *checks) stateFor(key checkKey) *activeHealth {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if rc := cs.running[key]; rc != nil {
		return rc.state
	}
	if s := cs.pending[key]; s != nil {
		return s
	}
	s := &activeHealth{key: key, epoch: cs.epochLocked(key.route)}
	cs.pending[key] = s
	return s
}

// epoch returns the counter the picker of route reads to notice its targets' status
// changes: the one its probers bump.
func (cs *checks) epoch(route string) *atomic.Uint64 {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.epochLocked(route)
}

func (cs *checks) epochLocked(route string) *atomic.Uint64 {
	e := cs.epochs[route]
	if e == nil {
		e = new(atomic.Uint64)
		cs.epochs[route] = e
	}
	return e
}

// reconcile runs exactly the probers of t's checked targets (none for a nil t).
func (cs *checks) reconcile(t *Table) {
	want := make(map[checkKey]*activeHealth)
	if t != nil {
		for _, rt := range t.byName.All() {
			if rt.up == nil {
				continue
			}
			for _, tg := range rt.up.targets {
				if tg.active != nil {
					want[tg.active.key] = tg.active
				}
			}
		}
	}
	cs.mu.Lock()
	var stopping []*runningCheck
	for k, rc := range cs.running {
		if want[k] != rc.state {
			rc.cancel()
			stopping = append(stopping, rc)
			delete(cs.running, k)
		}
	}
	for k, s := range want {
		if cs.running[k] == nil && !cs.closed {
			cs.running[k] = cs.start(s)
		}
	}
	clear(cs.pending)
	checked := make(map[string]bool)
	for k := range want {
		checked[k.route] = true
	}
	for route := range cs.epochs {
		if !checked[route] {
			delete(cs.epochs, route) // no prober of route runs: nothing bumps it
		}
	}
	if cs.follow {
		wanted := make(map[followKey]bool, len(want))
		for k := range want {
			wanted[followKey{k.route, k.url}] = true
		}
		for k := range cs.followed {
			if !wanted[k] {
				delete(cs.followed, k) // bounded by the table: results of targets no longer checked go
			}
		}
	}
	cs.mu.Unlock()
	for _, rc := range stopping {
		<-rc.done // a check in progress is cancelled with its context: this is short
	}
}

func (cs *checks) start(s *activeHealth) *runningCheck {
	if cs.follow {
		if c, ok := cs.followed[followKey{s.key.route, s.key.url}]; ok {
			follow(s, c)
		}
		done := make(chan struct{})
		close(done) // no prober: FollowActiveChecks sets s
		return &runningCheck{state: s, cancel: func() {}, done: done}
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := &runningCheck{state: s, cancel: cancel, done: make(chan struct{})}
	u, host := checkURL(s.key)
	p := &prober{state: s, url: u, host: host, client: cs.client,
		log: cs.log.With("route", s.key.route)}
	cs.live.Add(1)
	go func() {
		defer close(rc.done)
		defer cs.live.Add(-1)
		p.run(ctx)
	}()
	return rc
}

// checkURL is where a target is checked: its scheme and host with the check's path (the
// target URL's own path is not prefixed), and the Host header to send.
func checkURL(k checkKey) (string, string) {
	t, err := newTarget(k.url)
	if err != nil {
		return k.url, "" // Build refused such a target already
	}
	return t.url.Scheme + "://" + t.addr + k.cfg.path, t.host
}

// close stops every prober and waits for them; later reconciles start none.
func (cs *checks) close() {
	cs.mu.Lock()
	cs.closed = true
	cs.mu.Unlock()
	cs.reconcile(nil)
	cs.client.CloseIdleConnections()
}
