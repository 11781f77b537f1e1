package e2e

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// checkedBackend starts an HTTP server that answers its name, and /healthz with 200 while
// *healthy is set (503 otherwise).
func checkedBackend(t *testing.T, name string, healthy *atomic.Bool) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && !healthy.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// getWithCookie sends GET / for host through the agent with a session cookie and returns
// the body (the backend's name).
func getWithCookie(ag *agent, host, session string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, "http://"+ag.Addr+"/", nil)
	req.Host = host
	req.AddCookie(&http.Cookie{Name: "session", Value: session})
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var b [64]byte
	n, _ := res.Body.Read(b[:])
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("session %s: status %d", session, res.StatusCode)
	}
	return string(b[:n]), nil
}

// A route with active health checks and sticky sessions, through a real control plane and
// a real agent: each session stays on one backend; a backend failing its checks loses its
// sessions to the others and nobody else's moves.
func TestTraffic_StickySessionsWithActiveChecks(t *testing.T) {
	cp := startControl(t, "dev", "cp-1")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	health := make([]atomic.Bool, 3)
	var tgs []*edgeplanev1.Target
	for i := range health {
		health[i].Store(true)
		tgs = append(tgs, &edgeplanev1.Target{Url: checkedBackend(t, fmt.Sprint("b", i), &health[i])})
	}
	create(t, cp, &edgeplanev1.Route{Name: "sticky", Hosts: []string{"sticky.test"}, Targets: tgs,
		HealthCheck: &edgeplanev1.HealthCheck{Path: "/healthz", Interval: durationpb.New(100 * time.Millisecond),
			Timeout: durationpb.New(50 * time.Millisecond), UnhealthyThreshold: 1, HealthyThreshold: 1},
		LoadBalancer:    &edgeplanev1.LoadBalancer{Policy: edgeplanev1.LbPolicy_LB_POLICY_HASH, HashCookie: "session"},
		CircuitBreakers: &edgeplanev1.CircuitBreakers{MaxRequests: 100}})
	const sessions = 30
	home := map[string]string{}
	for round := range 4 {
		for s := range sessions {
			id := fmt.Sprint("s", s)
			got, err := getWithCookie(ag, "sticky.test", id)
			if err != nil {
				t.Fatal(err)
			}
			if round > 0 && got != home[id] {
				t.Fatalf("session %s, round %d: served by %s, want %s as before", id, round, got, home[id])
			}
			home[id] = got
		}
	}
	if owners := slices.Compact(slices.Sorted(maps.Values(home))); len(owners) != 3 {
		t.Fatalf("sessions spread over %v, want all three backends", owners)
	}
	health[1].Store(false)
	eventually(t, 10*time.Second, func() error {
		for s := range sessions {
			id := fmt.Sprint("s", s)
			got, err := getWithCookie(ag, "sticky.test", id)
			if err != nil {
				return err
			}
			if got == "b1" {
				return fmt.Errorf("session %s still served by b1, which fails its checks", id)
			}
		}
		return nil
	})
	for s := range sessions {
		id := fmt.Sprint("s", s)
		got, err := getWithCookie(ag, "sticky.test", id)
		if err != nil {
			t.Fatal(err)
		}
		if home[id] != "b1" && got != home[id] {
			t.Errorf("session %s of %s moved to %s when b1 went out", id, home[id], got)
		}
	}
}

func TestTraffic_BadFieldsRefusedByName(t *testing.T) {
	cp := startControl(t, "dev", "cp-1")
	tests := []struct {
		field string
		r     *edgeplanev1.Route
	}{
		{"route.health_check.interval", &edgeplanev1.Route{HealthCheck: &edgeplanev1.HealthCheck{Path: "/h", Interval: durationpb.New(time.Millisecond)}}},
		{"route.load_balancer.hash_header", &edgeplanev1.Route{LoadBalancer: &edgeplanev1.LoadBalancer{Policy: edgeplanev1.LbPolicy_LB_POLICY_HASH}}},
		{"route.circuit_breakers.max_requests", &edgeplanev1.Route{CircuitBreakers: &edgeplanev1.CircuitBreakers{MaxRequests: 1 << 30}}},
	}
	for _, tt := range tests {
		tt.r.Name, tt.r.Hosts, tt.r.Targets = "bad", []string{"bad.test"}, []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}}
		_, err := cp.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: tt.r})
		st, _ := status.FromError(err)
		if st.Code() != codes.InvalidArgument || !slices.Equal(violations(st), []string{tt.field}) {
			t.Errorf("CreateRoute: got %v %v, want InvalidArgument naming %s", st.Code(), violations(st), tt.field)
		}
	}
	if _, err := cp.Routes().GetRoute(t.Context(), &edgeplanev1.GetRouteRequest{Name: "bad"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetRoute after refused creates: got %v, want NotFound (nothing stored)", err)
	}
}
