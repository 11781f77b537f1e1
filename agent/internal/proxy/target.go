package proxy

import (
	"cmp"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// target is one backend of a route, with its passive health.
//
// Passive health: a connection failure, a reset or a response timeout counts against the
// target; any exchange that gets a response clears the count. After healthConfig.after
// failures in a row the target is ejected: the picker leaves it out until its cooldown
// ends. The cooldown doubles on each ejection after the first (base, 2·base, 4·base, ...
// up to healthConfig.maxCooldown) and starts again from base once the target has stayed
// in rotation for maxCooldown since its last cooldown ended.
type target struct {
	url    *url.URL
	raw    string // the target URL as configured, for request records
	host   string // Host header and authority: url.Host
	addr   string // dial address: host:port with the scheme's default port filled in
	secure bool   // https
	base   string // url.Path without a trailing slash; prepended to request paths
	query  string // url.RawQuery; merged with request queries
	pool   *pool  // idle backend connections of the fast HTTP/1.1 path
	id     uint64 // hash of raw: the target's identity in consistent hashing, the same on every agent

	active  *activeHealth // active health checks' verdict; nil when the route has none
	breaker breaker       // circuit-breaker state; also the in-flight count least-request reads

	fails        atomic.Int32
	ejectedUntil atomic.Int64           // unix nanoseconds; 0 when never ejected
	strikes      atomic.Int32           // ejections since the back-off last started over
	ejectReason  atomic.Pointer[string] // why it was last ejected (see health)
}

// healthConfig is a route's passive health policy.
type healthConfig struct {
	after       int32 // consecutive failures that eject a target
	cooldown    int64 // nanoseconds a target sits out on its first ejection
	maxCooldown int64 // cap of the doubling cooldown (>= cooldown), and the time in rotation that resets it
	panicBelow  int   // percent of a route's targets that must be healthy to avoid panic mode
	count5xx    bool  // 5xx answers count as failures too
}

// forRoute returns h with the route's outlier_detection fields that are set.
func (h healthConfig) forRoute(o *edgeplanev1.OutlierDetection) healthConfig {
	// The control plane validated the fields; the clamps keep the arithmetic sane anyway.
	if n := o.GetConsecutiveFailures(); n > 0 {
		h.after = int32(min(n, 1<<20))
	}
	if d := o.GetBaseEjectionTime().AsDuration(); d > 0 {
		h.cooldown = int64(d)
	}
	if d := o.GetMaxEjectionTime().AsDuration(); d > 0 {
		h.maxCooldown = int64(d)
	}
	h.maxCooldown = max(h.maxCooldown, h.cooldown)
	if o != nil && o.HealthyPanicThreshold != nil {
		h.panicBelow = int(min(o.GetHealthyPanicThreshold(), 100))
	}
	h.count5xx = o.GetCount_5Xx()
	return h
}

// backoff returns the cooldown of the ejection after strikes earlier ones: cooldown
// doubled strikes times, at most maxCooldown (never below cooldown: see healthConfig).
func (h healthConfig) backoff(strikes int32) int64 {
	d := h.cooldown
	for range strikes {
		if d >= h.maxCooldown {
			break
		}
		d *= 2
	}
	return min(d, h.maxCooldown)
}

func newTarget(raw string) (*target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("want an absolute http or https URL")
	}
	t := &target{url: u, raw: raw, host: u.Host, secure: u.Scheme == "https",
		base: strings.TrimSuffix(u.EscapedPath(), "/"), query: u.RawQuery, id: hashString(raw).h}
	t.breaker.freed = make(chan struct{}, 1)
	port := u.Port()
	if port == "" {
		port = "80"
		if t.secure {
			port = "443"
		}
	}
	t.addr = net.JoinHostPort(u.Hostname(), port)
	return t, nil
}

// succeeded records an exchange that got a response. Hot path: it writes only when there
// were failures, so a healthy target's cache line stays shared.
func (t *target) succeeded() {
	if t.fails.Load() != 0 {
		t.fails.Store(0)
	}
}

// failed records a failed exchange at now (unix nanoseconds) and, if it ejected t, returns
// the cooldown. Failures of requests sent before t was ejected do not count again.
func (t *target) failed(h healthConfig, now int64) (cooldown int64) {
	last := t.ejectedUntil.Load()
	if last > now || t.fails.Add(1) != h.after {
		return 0
	}
	t.fails.Store(0)
	strikes := t.strikes.Add(1) - 1
	if now-last >= h.maxCooldown {
		strikes = 0 // in rotation long enough since the last cooldown: start over
		t.strikes.Store(1)
	}
	cooldown = h.backoff(strikes)
	t.ejectedUntil.Store(now + cooldown)
	return cooldown
}

func nanotime() int64 { return time.Now().UnixNano() }

func (cfg Config) healthConfig() healthConfig {
	base := cmp.Or(cfg.EjectFor, DefaultEjectFor)
	return healthConfig{
		after:       int32(cmp.Or(cfg.EjectAfter, DefaultEjectAfter)),
		cooldown:    int64(base),
		maxCooldown: int64(max(cmp.Or(cfg.EjectMax, DefaultEjectMax), base)),
		panicBelow:  max(cmp.Or(cfg.PanicThreshold, DefaultPanicThreshold), 0),
	}
}
