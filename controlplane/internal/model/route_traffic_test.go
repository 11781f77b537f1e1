package model

import (
	"errors"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestValidateRoute_TrafficFields(t *testing.T) {
	dur := durationpb.New
	hc := func(mod func(*edgeplanev1.HealthCheck)) *edgeplanev1.Route {
		h := &edgeplanev1.HealthCheck{Path: "/healthz"}
		mod(h)
		return &edgeplanev1.Route{HealthCheck: h}
	}
	lb := func(l *edgeplanev1.LoadBalancer) *edgeplanev1.Route { return &edgeplanev1.Route{LoadBalancer: l} }
	cb := func(c *edgeplanev1.CircuitBreakers) *edgeplanev1.Route { return &edgeplanev1.Route{CircuitBreakers: c} }
	hash := edgeplanev1.LbPolicy_LB_POLICY_HASH
	tests := []struct {
		name  string
		r     *edgeplanev1.Route
		field string // "" when valid
	}{
		{"unset", &edgeplanev1.Route{}, ""},
		{"check minimal", hc(func(*edgeplanev1.HealthCheck) {}), ""},
		{"check all set", hc(func(h *edgeplanev1.HealthCheck) {
			h.ExpectedStatusMin, h.ExpectedStatusMax, h.Interval, h.Timeout = 200, 204, dur(time.Second), dur(time.Second)
			h.HealthyThreshold, h.UnhealthyThreshold, h.JitterPercent, h.SlowStart = 1, 100, 100, dur(time.Hour)
		}), ""},
		{"check without path", hc(func(h *edgeplanev1.HealthCheck) { h.Path = "" }), "route.health_check.path"},
		{"check relative path", hc(func(h *edgeplanev1.HealthCheck) { h.Path = "healthz" }), "route.health_check.path"},
		{"check path with CRLF", hc(func(h *edgeplanev1.HealthCheck) { h.Path = "/a\r\nX: y" }), "route.health_check.path"},
		{"status below 100", hc(func(h *edgeplanev1.HealthCheck) { h.ExpectedStatusMin = 99 }), "route.health_check.expected_status_min"},
		{"status above 599", hc(func(h *edgeplanev1.HealthCheck) { h.ExpectedStatusMax = 600 }), "route.health_check.expected_status_max"},
		{"status range reversed", hc(func(h *edgeplanev1.HealthCheck) { h.ExpectedStatusMin, h.ExpectedStatusMax = 300, 200 }), "route.health_check.expected_status_max"},
		{"interval too short", hc(func(h *edgeplanev1.HealthCheck) { h.Interval = dur(time.Millisecond) }), "route.health_check.interval"},
		{"interval too long", hc(func(h *edgeplanev1.HealthCheck) { h.Interval = dur(2 * time.Hour) }), "route.health_check.interval"},
		{"timeout too long", hc(func(h *edgeplanev1.HealthCheck) { h.Timeout = dur(2 * time.Minute) }), "route.health_check.timeout"},
		{"timeout over interval", hc(func(h *edgeplanev1.HealthCheck) { h.Interval, h.Timeout = dur(time.Second), dur(2*time.Second) }), "route.health_check.timeout"},
		{"threshold too high", hc(func(h *edgeplanev1.HealthCheck) { h.UnhealthyThreshold = 101 }), "route.health_check.unhealthy_threshold"},
		{"jitter over 100", hc(func(h *edgeplanev1.HealthCheck) { h.JitterPercent = 101 }), "route.health_check.jitter_percent"},
		{"slow start negative", hc(func(h *edgeplanev1.HealthCheck) { h.SlowStart = dur(-time.Second) }), "route.health_check.slow_start"},
		{"slow start too long", hc(func(h *edgeplanev1.HealthCheck) { h.SlowStart = dur(2 * time.Hour) }), "route.health_check.slow_start"},
		{"least request", lb(&edgeplanev1.LoadBalancer{Policy: edgeplanev1.LbPolicy_LB_POLICY_LEAST_REQUEST}), ""},
		{"hash on cookie", lb(&edgeplanev1.LoadBalancer{Policy: hash, HashCookie: "session"}), ""},
		{"hash on client ip", lb(&edgeplanev1.LoadBalancer{Policy: hash, HashClientIp: true}), ""},
		{"unknown policy", lb(&edgeplanev1.LoadBalancer{Policy: 9}), "route.load_balancer.policy"},
		{"hash without key", lb(&edgeplanev1.LoadBalancer{Policy: hash}), "route.load_balancer.hash_header"},
		{"hash with two keys", lb(&edgeplanev1.LoadBalancer{Policy: hash, HashHeader: "x-user", HashClientIp: true}), "route.load_balancer.hash_header"},
		{"hash header not a token", lb(&edgeplanev1.LoadBalancer{Policy: hash, HashHeader: "x user"}), "route.load_balancer.hash_header"},
		{"hash cookie not a token", lb(&edgeplanev1.LoadBalancer{Policy: hash, HashCookie: "a;b"}), "route.load_balancer.hash_cookie"},
		{"key without hash", lb(&edgeplanev1.LoadBalancer{HashHeader: "x-user"}), "route.load_balancer.policy"},
		{"breakers", cb(&edgeplanev1.CircuitBreakers{MaxConnections: 1, MaxPendingRequests: proto.Uint32(0), MaxRequests: MaxBreakerLimit}), ""},
		{"too many connections", cb(&edgeplanev1.CircuitBreakers{MaxConnections: MaxBreakerLimit + 1}), "route.circuit_breakers.max_connections"},
		{"too many pending", cb(&edgeplanev1.CircuitBreakers{MaxPendingRequests: proto.Uint32(MaxBreakerLimit + 1)}), "route.circuit_breakers.max_pending_requests"},
		{"too many requests", cb(&edgeplanev1.CircuitBreakers{MaxRequests: MaxBreakerLimit + 1}), "route.circuit_breakers.max_requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.Name, r.Hosts, r.Targets = "r", []string{"a.test"}, []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}}
			err := ValidateRoute("route", r)
			var ve *ValidationError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("ValidateRoute() error = %v, want nil", err)
			case tt.field == "":
			case !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Field != tt.field:
				t.Fatalf("ValidateRoute() error = %v, want one violation of %s", err, tt.field)
			}
		})
	}
}
