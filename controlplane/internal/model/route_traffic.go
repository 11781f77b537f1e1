package model

import (
	"fmt"
	"strings"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Bounds of a route's health_check, load_balancer and circuit_breakers.
const (
	MinCheckInterval   = 100 * time.Millisecond
	MaxCheckInterval   = time.Hour
	MinCheckTimeout    = 10 * time.Millisecond
	MaxCheckTimeout    = time.Minute
	MaxCheckThreshold  = 100
	MaxSlowStart       = time.Hour
	MaxBreakerLimit    = 100000
	maxCheckPathBytes  = 1024
	maxHashCookieBytes = 256
)

// validateHealthCheck checks a route's active health checks; zero fields are the defaults.
func validateHealthCheck(vs *violations, field string, h *edgeplanev1.HealthCheck) {
	if h == nil {
		return
	}
	validateCheckPath(vs, field+".path", h.GetPath())
	lo, hi := h.GetExpectedStatusMin(), h.GetExpectedStatusMax()
	for _, s := range []struct {
		name string
		v    uint32
	}{{"expected_status_min", lo}, {"expected_status_max", hi}} {
		if s.v != 0 && (s.v < 100 || s.v > 599) {
			vs.add(field+"."+s.name, fmt.Sprintf("%d is out of range 100-599 (0 means the default)", s.v))
		}
	}
	if lo != 0 && hi != 0 && hi < lo {
		vs.add(field+".expected_status_max", fmt.Sprintf("%d is below expected_status_min %d", hi, lo))
	}
	interval, ok := checkDuration(vs, field+".interval", h.GetInterval(), MinCheckInterval, MaxCheckInterval)
	if timeout, tok := checkDuration(vs, field+".timeout", h.GetTimeout(), MinCheckTimeout, MaxCheckTimeout); tok && ok && timeout > interval {
		vs.add(field+".timeout", fmt.Sprintf("%s is longer than interval %s", timeout, interval))
	}
	if n := h.GetHealthyThreshold(); n > MaxCheckThreshold {
		vs.add(field+".healthy_threshold", fmt.Sprintf("%d is out of range 0-%d (0 means the default)", n, MaxCheckThreshold))
	}
	if n := h.GetUnhealthyThreshold(); n > MaxCheckThreshold {
		vs.add(field+".unhealthy_threshold", fmt.Sprintf("%d is out of range 0-%d (0 means the default)", n, MaxCheckThreshold))
	}
	if j := h.GetJitterPercent(); j > 100 {
		vs.add(field+".jitter_percent", fmt.Sprintf("%d is out of range 0-100", j))
	}
	checkDuration(vs, field+".slow_start", h.GetSlowStart(), 0, MaxSlowStart)
}

func validateCheckPath(vs *violations, field, p string) {
	switch {
	case p == "":
		vs.add(field, "is required (such as \"/healthz\")")
	case !strings.HasPrefix(p, "/"):
		vs.add(field, fmt.Sprintf("%q must start with '/'", p))
	case len(p) > maxCheckPathBytes:
		vs.add(field, fmt.Sprintf("longer than %d bytes", maxCheckPathBytes))
	case strings.ContainsAny(p, " \t\r\n\x00#"):
		vs.add(field, fmt.Sprintf("%q holds a space, control character or fragment", p))
	}
}

// checkDuration checks an optional duration against lo-hi and reports whether it is set
// and valid.
func checkDuration(vs *violations, field string, d *durationpb.Duration, lo, hi time.Duration) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	if err := d.CheckValid(); err != nil {
		vs.add(field, err.Error())
		return 0, false
	}
	if v := d.AsDuration(); v < lo || v > hi {
		vs.add(field, fmt.Sprintf("%s is out of range %s-%s", v, lo, hi))
		return 0, false
	}
	return d.AsDuration(), true
}

// validateLoadBalancer checks a route's balancing policy: a known policy, and with
// LB_POLICY_HASH exactly one hash key source.
func validateLoadBalancer(vs *violations, field string, lb *edgeplanev1.LoadBalancer) {
	if lb == nil {
		return
	}
	if _, ok := edgeplanev1.LbPolicy_name[int32(lb.GetPolicy())]; !ok {
		vs.add(field+".policy", fmt.Sprintf("unknown policy %d", lb.GetPolicy()))
		return
	}
	header, cookie, ip := lb.GetHashHeader(), lb.GetHashCookie(), lb.GetHashClientIp()
	if lb.GetPolicy() != edgeplanev1.LbPolicy_LB_POLICY_HASH {
		if header != "" || cookie != "" || ip {
			vs.add(field+".policy", "hash_header, hash_cookie and hash_client_ip need LB_POLICY_HASH")
		}
		return
	}
	n := 0
	for _, set := range []bool{header != "", cookie != "", ip} {
		if set {
			n++
		}
	}
	if n != 1 {
		vs.add(field+".hash_header", "LB_POLICY_HASH needs exactly one of hash_header, hash_cookie and hash_client_ip")
	}
	if header != "" && !headerPattern.MatchString(header) {
		vs.add(field+".hash_header", fmt.Sprintf("%q is not a valid header name", header))
	}
	if cookie != "" && (len(cookie) > maxHashCookieBytes || !headerPattern.MatchString(cookie)) {
		vs.add(field+".hash_cookie", fmt.Sprintf("%q is not a valid cookie name (a token of at most %d bytes)", cookie, maxHashCookieBytes))
	}
}

// validateBreakers checks a route's per-target circuit breakers.
func validateBreakers(vs *violations, field string, cb *edgeplanev1.CircuitBreakers) {
	if cb == nil {
		return
	}
	limit := func(name string, n uint32) {
		if n > MaxBreakerLimit {
			vs.add(field+"."+name, fmt.Sprintf("%d is out of range 0-%d", n, MaxBreakerLimit))
		}
	}
	limit("max_connections", cb.GetMaxConnections())
	limit("max_pending_requests", cb.GetMaxPendingRequests())
	limit("max_requests", cb.GetMaxRequests())
}
