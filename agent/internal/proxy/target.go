package proxy

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// target is one backend of a route, with its passive health.
//
// Passive health: a connection failure, a reset or a response timeout counts against the
// target; any exchange that gets a response clears the count. After EjectAfter failures in
// a row the target is ejected for EjectFor: picks skip it unless every target of the route
// is ejected, in which case the route keeps sending to all of them (like Envoy's panic
// mode) rather than answering 503 to everyone.
type target struct {
	url    *url.URL
	raw    string // the target URL as configured, for request records
	host   string // Host header and authority: url.Host
	addr   string // dial address: host:port with the scheme's default port filled in
	secure bool   // https
	base   string // url.Path without a trailing slash; prepended to request paths
	query  string // url.RawQuery; merged with request queries
	pool   *pool  // idle backend connections of the fast HTTP/1.1 path

	fails        atomic.Int32
	ejectedUntil atomic.Int64 // unix nanoseconds; 0 when never ejected
}

// healthConfig is a route's passive health policy.
type healthConfig struct {
	after    int32 // consecutive failures that eject a target
	cooldown int64 // nanoseconds an ejected target sits out
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
		base: strings.TrimSuffix(u.EscapedPath(), "/"), query: u.RawQuery}
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

// healthy reports whether t is not ejected at now (unix nanoseconds). Hot path: one atomic
// load.
func (t *target) healthy(now int64) bool { return t.ejectedUntil.Load() <= now }

// succeeded records an exchange that got a response. Hot path: it writes only when there
// were failures, so a healthy target's cache line stays shared.
func (t *target) succeeded() {
	if t.fails.Load() != 0 {
		t.fails.Store(0)
	}
}

// failed records a connection failure and reports whether it ejected t.
func (t *target) failed(h healthConfig, now int64) bool {
	if t.fails.Add(1) < h.after {
		return false
	}
	t.fails.Store(0)
	t.ejectedUntil.Store(now + h.cooldown)
	return true
}

// pick returns the next healthy target other than avoid by weighted round robin. If every
// target is ejected it returns the next one anyway; with avoid set and no other target it
// returns nil. Hot path: an atomic add and an atomic load per target tried.
func (u *upstream) pick(now int64, avoid *target) *target {
	for range len(u.targets) {
		t := u.targets[u.balancer.pick()]
		if t != avoid && t.healthy(now) {
			return t
		}
	}
	for range len(u.targets) {
		if t := u.targets[u.balancer.pick()]; t != avoid {
			return t
		}
	}
	return nil
}

func nanotime() int64 { return time.Now().UnixNano() }
