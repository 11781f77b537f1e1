package proxy

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func TestProxy_Forwarding(t *testing.T) {
	be := echo(t, "be")
	p := newProxy(t, Config{},
		&edgeplanev1.Route{Name: "plain", Hosts: []string{"plain.test"}, Targets: targets(be.URL + "/base")},
		&edgeplanev1.Route{Name: "query", Hosts: []string{"query.test"}, Targets: targets(be.URL + "/b/?k=v")},
		&edgeplanev1.Route{Name: "keep", Hosts: []string{"keep.test"}, PreserveHost: true, Targets: targets(be.URL)},
		&edgeplanev1.Route{Name: "hdr", Hosts: []string{"hdr.test"}, Targets: targets(be.URL),
			RequestHeaders: &edgeplanev1.HeaderRules{Set: map[string]string{"x-add": "yes", "X-Forwarded-Proto": "https"},
				Remove: []string{"X-Drop", "x-real-ip"}},
			ResponseHeaders: &edgeplanev1.HeaderRules{Set: map[string]string{"X-Served-By": "edge"}, Remove: []string{"secret"}}},
	)
	beHost := strings.TrimPrefix(be.URL, "http://")
	sent := []string{"X-Drop", "gone", "X-Forwarded-For", "6.6.6.6", "X-Forwarded-Host", "evil.test",
		"X-Forwarded-Proto", "https", "Forwarded", "for=6.6.6.6", "X-Real-IP", "6.6.6.6",
		"X-Forwarded-User", "admin", "X-Remote-User", "admin", "X-Auth-Request-Email", "a@b.c",
		"Proxy-Authorization", "Basic eA==", "Keep-Alive", "timeout=5", "Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	tests := []struct {
		name, host, path string
		want             map[string]string
	}{
		{"target host and path", "plain.test", "/p?q=1", map[string]string{
			"Got-Host": beHost, "Got-URI": "/base/p?q=1", "Secret": "s3cret", "Got-X-Drop": "gone",
			"Got-X-Forwarded-For": "127.0.0.1", "Got-X-Forwarded-Host": "plain.test", "Got-X-Forwarded-Proto": "http",
			"Got-Forwarded": `for=127.0.0.1;host="plain.test";proto=http`, "Got-X-Real-Ip": "127.0.0.1",
			"Got-X-Forwarded-User": "", "Got-X-Remote-User": "", "Got-X-Auth-Request-Email": "",
			"Got-Proxy-Authorization": "", "Got-Keep-Alive": ""}},
		{"target query first", "query.test", "/p?q=1", map[string]string{"Got-URI": "/b/p?k=v&q=1"}},
		{"preserve host", "keep.test:8080", "/", map[string]string{"Got-Host": "keep.test:8080",
			"Got-Forwarded": `for=127.0.0.1;host="keep.test:8080";proto=http`}},
		{"header rules", "hdr.test", "/", map[string]string{
			"Got-X-Add": "yes", "Got-X-Drop": "", "X-Served-By": "edge", "Secret": "",
			"Got-X-Forwarded-Proto": "https", "Got-X-Real-Ip": ""}},
	}
	for mode, f := range paths(t, p) {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				resp, body := get(t, f, tt.host, tt.path, sent...)
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
}

func TestProxy_Errors(t *testing.T) {
	slow := echoAfter(t, 5*time.Second)
	reset := resetter(t)
	p := newProxy(t, Config{},
		&edgeplanev1.Route{Name: "refused", Hosts: []string{"refused.test"}, Targets: targets("http://" + closedAddr(t))},
		&edgeplanev1.Route{Name: "reset", Hosts: []string{"reset.test"}, Targets: targets(reset)},
		&edgeplanev1.Route{Name: "slow", Hosts: []string{"slow.test"}, Targets: targets(slow.URL),
			Timeouts: &edgeplanev1.Timeouts{Response: durationpb.New(50 * time.Millisecond)}},
		&edgeplanev1.Route{Name: "svc", Hosts: []string{"svc.test"}, Service: "web"},
	)
	tests := []struct {
		name, host, path string
		status           int
		body             string
	}{
		{"refused", "refused.test", "/", http.StatusBadGateway, "edgeplane: route \"refused\": upstream is unavailable\n"},
		{"reset", "reset.test", "/", http.StatusBadGateway, "edgeplane: route \"reset\": upstream is unavailable\n"},
		{"response timeout", "slow.test", "/", http.StatusGatewayTimeout, "edgeplane: route \"slow\": upstream timed out\n"},
		{"no targets", "svc.test", "/", http.StatusServiceUnavailable, "edgeplane: route \"svc\" has no targets\n"},
		{"no route", "Nope.test:80", "/y", http.StatusNotFound, "edgeplane: no route for host \"nope.test\" path \"/y\"\n"},
	}
	for mode, f := range paths(t, p) {
		for _, tt := range tests {
			t.Run(mode+"/"+tt.name, func(t *testing.T) {
				resp, body := get(t, f, tt.host, tt.path)
				if resp.StatusCode != tt.status || body != tt.body {
					t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
				}
				if ct := resp.Header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type = %q, want text/plain; charset=utf-8", ct)
				}
			})
		}
	}
}

func TestProxy_NoTable(t *testing.T) {
	for mode, f := range paths(t, newProxy(t, Config{})) {
		resp, _ := get(t, f, "a.test", "/")
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("%s: status = %d, want %d", mode, resp.StatusCode, http.StatusServiceUnavailable)
		}
	}
}

func TestProxy_BuildReusesUnchangedRoutes(t *testing.T) {
	p := newProxy(t, Config{})
	a := &edgeplanev1.Route{Name: "a", Hosts: []string{"a.test"}, Targets: targets("http://127.0.0.1:1")}
	b := &edgeplanev1.Route{Name: "b", Hosts: []string{"b.test"}, Targets: targets("http://127.0.0.1:1")}
	t1 := apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{a, b}})
	b2 := &edgeplanev1.Route{Name: "b", Hosts: []string{"b.test"}, Targets: targets("http://127.0.0.1:2")}
	t2 := apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{a, b2}})
	if t2.route("a") != t1.route("a") {
		t.Error("unchanged route a was rebuilt")
	}
	if t2.route("b") == t1.route("b") {
		t.Error("changed route b was reused")
	}
}

func TestProxy_ServiceRoutes(t *testing.T) {
	a, b := echo(t, "a"), echo(t, "b")
	p := newProxy(t, Config{})
	web := &edgeplanev1.Route{Name: "web", Hosts: []string{"web.test"}, Service: "web"}
	endpoints := func(urls ...string) []*edgeplanev1.ServiceEndpoints {
		return []*edgeplanev1.ServiceEndpoints{{Name: "web", Targets: targets(urls...)}}
	}
	fronts := paths(t, p)
	steps := []struct {
		services []*edgeplanev1.ServiceEndpoints
		status   int
		body     string
	}{
		{nil, http.StatusServiceUnavailable, "edgeplane: route \"web\" has no targets\n"},
		{endpoints(a.URL), http.StatusOK, "hello from a"},
		{endpoints(b.URL), http.StatusOK, "hello from b"}, // same route, the service moved
		{endpoints(), http.StatusServiceUnavailable, "edgeplane: route \"web\" has no targets\n"},
	}
	for i, st := range steps {
		apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{web}, Services: st.services})
		for mode, f := range fronts {
			if resp, body := get(t, f, "web.test", "/"); resp.StatusCode != st.status || body != st.body {
				t.Errorf("step %d, %s: got %d %q, want %d %q", i, mode, resp.StatusCode, body, st.status, st.body)
			}
		}
	}
}
