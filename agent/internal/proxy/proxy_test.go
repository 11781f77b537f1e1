package proxy

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// echo is a backend that reports what it received in response headers.
func echo(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Backend", name)
		w.Header().Set("Got-Host", r.Host)
		w.Header().Set("Got-Path", r.URL.Path)
		w.Header().Set("Got-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("Got-XFH", r.Header.Get("X-Forwarded-Host"))
		w.Header().Set("Got-Add", r.Header.Get("X-Add"))
		w.Header().Set("Got-Drop", r.Header.Get("X-Drop"))
		w.Header().Set("Secret", "s3cret")
		io.WriteString(w, "hello from "+name)
	}))
	t.Cleanup(s.Close)
	return s
}

// serve builds a Proxy for routes and returns a front server for it.
func serve(t *testing.T, routes ...*edgeplanev1.Route) *httptest.Server {
	t.Helper()
	p := New(Config{})
	tbl, err := p.Build(routes)
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	p.Swap(tbl)
	s := httptest.NewServer(p)
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, front *httptest.Server, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, front.URL+path, nil)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := front.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func target(urls ...string) []*edgeplanev1.Target {
	var ts []*edgeplanev1.Target
	for _, u := range urls {
		ts = append(ts, &edgeplanev1.Target{Url: u})
	}
	return ts
}

func TestProxy_Forwarding(t *testing.T) {
	be := echo(t, "be")
	front := serve(t,
		&edgeplanev1.Route{Name: "plain", Hosts: []string{"plain.test"}, Targets: target(be.URL + "/base")},
		&edgeplanev1.Route{Name: "keep", Hosts: []string{"keep.test"}, PreserveHost: true, Targets: target(be.URL)},
		&edgeplanev1.Route{Name: "hdr", Hosts: []string{"hdr.test"}, Targets: target(be.URL),
			RequestHeaders:  &edgeplanev1.HeaderRules{Set: map[string]string{"x-add": "yes"}, Remove: []string{"X-Drop"}},
			ResponseHeaders: &edgeplanev1.HeaderRules{Set: map[string]string{"X-Served-By": "edge"}, Remove: []string{"secret"}}},
	)
	beHost := strings.TrimPrefix(be.URL, "http://")
	tests := []struct {
		name, host, path string
		want             map[string]string
	}{
		{"target host and path", "plain.test", "/p", map[string]string{
			"Got-Host": beHost, "Got-Path": "/base/p", "Got-XFH": "plain.test", "Got-XFF": "127.0.0.1", "Secret": "s3cret"}},
		{"preserve host", "keep.test:8080", "/", map[string]string{"Got-Host": "keep.test:8080"}},
		{"header rules", "hdr.test", "/", map[string]string{
			"Got-Add": "yes", "Got-Drop": "", "X-Served-By": "edge", "Secret": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, front, tt.host, tt.path, "X-Drop", "gone", "X-Forwarded-For", "6.6.6.6")
			if resp.StatusCode != http.StatusOK || body != "hello from be" {
				t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, "hello from be")
			}
			for k, want := range tt.want {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("header %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestProxy_WeightedTargets(t *testing.T) {
	a, b := echo(t, "a"), echo(t, "b")
	front := serve(t, &edgeplanev1.Route{Name: "w", Hosts: []string{"w.test"}, Targets: []*edgeplanev1.Target{
		{Url: a.URL, Weight: 3}, {Url: b.URL, Weight: 1}}})
	counts := map[string]int{}
	for range 40 {
		resp, _ := get(t, front, "w.test", "/")
		counts[resp.Header.Get("Backend")]++
	}
	if counts["a"] != 30 || counts["b"] != 10 {
		t.Errorf("got %v, want a:30 b:10", counts)
	}
}

func TestProxy_Errors(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	front := serve(t,
		&edgeplanev1.Route{Name: "refused", Hosts: []string{"refused.test"}, Targets: target("http://" + closedAddr(t))},
		&edgeplanev1.Route{Name: "slow", Hosts: []string{"slow.test"}, Targets: target(slow.URL),
			Timeouts: &edgeplanev1.Timeouts{Response: durationpb.New(50 * time.Millisecond)}},
		&edgeplanev1.Route{Name: "svc", Hosts: []string{"svc.test"}, Service: "web"},
	)
	tests := []struct {
		name, host, path string
		status           int
		body             string
	}{
		{"refused", "refused.test", "/", http.StatusBadGateway, "edgeplane: route \"refused\": upstream is unavailable\n"},
		{"response timeout", "slow.test", "/", http.StatusGatewayTimeout, "edgeplane: route \"slow\": upstream timed out\n"},
		{"no targets", "svc.test", "/", http.StatusServiceUnavailable, "edgeplane: route \"svc\" has no targets\n"},
		{"no route", "Nope.test:80", "/y", http.StatusNotFound, "edgeplane: no route for host \"Nope.test\" path \"/y\"\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, front, tt.host, tt.path)
			if resp.StatusCode != tt.status || body != tt.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}

func TestProxy_NoTable(t *testing.T) {
	front := httptest.NewServer(New(Config{}))
	t.Cleanup(front.Close)
	resp, _ := get(t, front, "a.test", "/")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status = %d, want %d", resp.StatusCode, http.StatusServiceUnavailable)
	}
}

func TestProxy_BuildReusesUnchangedRoutes(t *testing.T) {
	p := New(Config{})
	a := &edgeplanev1.Route{Name: "a", Hosts: []string{"a.test"}, Targets: target("http://127.0.0.1:1")}
	b := &edgeplanev1.Route{Name: "b", Hosts: []string{"b.test"}, Targets: target("http://127.0.0.1:1")}
	t1, _ := p.Build([]*edgeplanev1.Route{a, b})
	p.Swap(t1)
	b2 := &edgeplanev1.Route{Name: "b", Hosts: []string{"b.test"}, Targets: target("http://127.0.0.1:2")}
	t2, _ := p.Build([]*edgeplanev1.Route{a, b2})
	if t2.byName["a"] != t1.byName["a"] {
		t.Error("unchanged route a was rebuilt")
	}
	if t2.byName["b"] == t1.byName["b"] {
		t.Error("changed route b was reused")
	}
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
