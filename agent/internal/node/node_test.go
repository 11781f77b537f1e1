package node

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/cache"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

func backend(t *testing.T, body string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, body)
	}))
	t.Cleanup(s.Close)
	return s.URL
}

func route(name, host, url string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{host}, Targets: []*edgeplanev1.Target{{Url: url}}}
}

// startAgent runs an Agent until the test ends and waits for its listeners.
func startAgent(t *testing.T, cfg Config) *Agent {
	t.Helper()
	cfg.HTTPAddr, cfg.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.NodeID = "node-1"
	cfg.Backoff = backoff.Config{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New() error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() error = %v", err)
		}
	})
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("Run() ended early: %v", err)
	}
	return a
}

// fetch returns the status and body of GET http://addr/path with the given Host.
func fetch(t *testing.T, addr, host, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+path, nil)
	req.Host = host
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s%s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func wantAck(t *testing.T, m *edgeplanev1.AgentMessage, rev int64) {
	t.Helper()
	if m.GetAck().GetRevision() != rev || m.GetAck().GetConfigHash() == "" {
		t.Fatalf("got %v, want Ack for revision %d with a hash", m, rev)
	}
}

func wantNack(t *testing.T, m *edgeplanev1.AgentMessage, rev int64, text string) {
	t.Helper()
	if m.GetNack().GetRevision() != rev || !strings.Contains(m.GetNack().GetError(), text) {
		t.Fatalf("got %v, want Nack for revision %d containing %q", m, rev, text)
	}
}

func TestAgent_SnapshotDeltaNack(t *testing.T) {
	cp := startControlPlane(t)
	one, two := backend(t, "one"), backend(t, "two")
	a := startAgent(t, Config{ControlPlane: cp.addr, Labels: map[string]string{"zone": "a"}, Version: "v1",
		Validate: func(rs []*edgeplanev1.Route) error {
			for _, r := range rs {
				if r.GetName() == "forbidden" {
					return errors.New(`route "forbidden": refused by test`)
				}
			}
			return nil
		}})
	s := cp.next(t)
	if s.hello.GetNodeId() != "node-1" || s.hello.GetRevision() != 0 || s.hello.GetLabels()["zone"] != "a" || s.hello.GetVersion() != "v1" {
		t.Fatalf("hello = %v, want node-1 at revision 0 with zone=a, version v1", s.hello)
	}

	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("one", "one.test", one)}}), 1)
	if code, body := fetch(t, a.Addr(), "one.test", "/"); code != 200 || body != "one" {
		t.Fatalf("after snapshot: got %d %q, want 200 %q", code, body, "one")
	}

	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Routes: []*edgeplanev1.Route{route("two", "two.test", two)}, DeletedRoutes: []string{"one"}}), 2)
	if code, _ := fetch(t, a.Addr(), "one.test", "/"); code != 404 {
		t.Errorf("deleted route: got %d, want 404", code)
	}

	cert := route("tls", "tls.test", two)
	cert.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: "web"}
	rejects := []struct {
		name string
		u    *edgeplanev1.ConfigUpdate
		text string
	}{
		{"validate hook", &edgeplanev1.ConfigUpdate{Revision: 3, BaseRevision: 2, Routes: []*edgeplanev1.Route{route("forbidden", "f.test", one)}}, `route "forbidden": refused by test`},
		{"certificate", &edgeplanev1.ConfigUpdate{Revision: 4, BaseRevision: 2, Routes: []*edgeplanev1.Route{cert}}, `route "tls": certificate "web" is not in the config`},
		{"bad target", &edgeplanev1.ConfigUpdate{Revision: 5, Snapshot: true, Routes: []*edgeplanev1.Route{route("bad", "b.test", "gopher://x")}}, `route "bad": target "gopher://x"`},
	}
	for _, tt := range rejects {
		t.Run(tt.name, func(t *testing.T) {
			wantNack(t, s.push(t, tt.u), tt.u.GetRevision(), tt.text)
			if a.Revision() != 2 || a.RouteCount() != 1 {
				t.Errorf("after Nack: revision %d with %d routes, want 2 with 1", a.Revision(), a.RouteCount())
			}
			if code, body := fetch(t, a.Addr(), "two.test", "/"); code != 200 || body != "two" {
				t.Errorf("after Nack: got %d %q, want the old table's 200 %q", code, body, "two")
			}
		})
	}
}

func TestAgent_BaseMismatchResyncs(t *testing.T) {
	cp := startControlPlane(t)
	one := backend(t, "one")
	a := startAgent(t, Config{ControlPlane: cp.addr})
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 7, Snapshot: true, Routes: []*edgeplanev1.Route{route("one", "one.test", one)}}), 7)

	wantNack(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 9, BaseRevision: 8}), 9, "based on revision 8 but the agent serves 7")
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("agent did not close the stream after a base mismatch")
	}
	s2 := cp.next(t)
	if s2.hello.GetRevision() != 0 {
		t.Errorf("hello after mismatch: revision %d, want 0 (asking for a snapshot)", s2.hello.GetRevision())
	}
	if a.Revision() != 7 {
		t.Errorf("revision %d, want 7 still served", a.Revision())
	}
	wantAck(t, s2.push(t, &edgeplanev1.ConfigUpdate{Revision: 9, Snapshot: true, Routes: []*edgeplanev1.Route{route("one", "one.test", one)}}), 9)
}

func TestAgent_ReconnectsAfterStreamBreaks(t *testing.T) {
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr})
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 3, Snapshot: true}), 3)
	close(s.end)
	s2 := cp.next(t)
	if s2.hello.GetRevision() != 3 || s2.hello.GetConfigHash() != a.ConfigHash() {
		t.Errorf("hello after reconnect = %v, want revision 3 and hash %q", s2.hello, a.ConfigHash())
	}
	wantAck(t, s2.push(t, &edgeplanev1.ConfigUpdate{Revision: 4, BaseRevision: 3}), 4)
}

func TestAgent_ConnectsWhenControlPlaneComesUp(t *testing.T) {
	addr := closedAddr(t)
	failed := &logCount{msg: "config stream ended; reconnecting"}
	startAgent(t, Config{ControlPlane: addr, Logger: slog.New(failed)})
	waitUntil(t, "three failed attempts", func() bool { return failed.n.Load() >= 3 })
	cp := startControlPlaneAt(t, addr)
	if s := cp.next(t); s.hello.GetNodeId() != "node-1" {
		t.Errorf("hello from %q, want node-1", s.hello.GetNodeId())
	}
}

func TestAgent_ServesCacheWithoutControlPlane(t *testing.T) {
	dir := t.TempDir()
	one := backend(t, "one")
	cp := startControlPlane(t)
	first := startAgent(t, Config{ControlPlane: cp.addr, CacheDir: dir})
	wantAck(t, cp.next(t).push(t, &edgeplanev1.ConfigUpdate{Revision: 12, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("one", "one.test", one)}}), 12)
	// The cache is written in the background after the Ack.
	waitUntil(t, "the cache to hold revision 12", func() bool {
		cached, _, err := cache.Load(dir)
		return err == nil && cached.GetRevision() == 12 && len(cached.GetRoutes()) == 1
	})

	// A second agent on the same cache, with nothing listening at its control plane address.
	second := startAgent(t, Config{ControlPlane: closedAddr(t), CacheDir: dir})
	if second.Revision() != 12 || second.ConfigHash() != first.ConfigHash() {
		t.Errorf("restarted agent serves revision %d hash %q, want 12 %q", second.Revision(), second.ConfigHash(), first.ConfigHash())
	}
	if code, body := fetch(t, second.Addr(), "one.test", "/"); code != 200 || body != "one" {
		t.Errorf("from cache: got %d %q, want 200 %q", code, body, "one")
	}
	if code, _ := fetch(t, second.MetricsAddr(), "x", "/healthz"); code != 200 {
		t.Errorf("/healthz with cached config: %d, want 200", code)
	}
}

func TestAgent_HealthBeforeConfig(t *testing.T) {
	a := startAgent(t, Config{ControlPlane: closedAddr(t)})
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, _ := fetch(t, a.MetricsAddr(), "x", path); code != http.StatusServiceUnavailable {
			t.Errorf("%s before any config: %d, want 503", path, code)
		}
	}
	if code, _ := fetch(t, a.Addr(), "x", "/"); code != http.StatusServiceUnavailable {
		t.Errorf("proxy before any config: %d, want 503", code)
	}
}

func TestAgent_ShutdownDrainsInFlight(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	t.Cleanup(slow.Close)
	cp := startControlPlane(t)
	a, err := New(Config{ControlPlane: cp.addr, NodeID: "n", HTTPAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.Ready()
	wantAck(t, cp.next(t).push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("slow", "slow.test", slow.URL)}}), 1)

	type result struct {
		code int
		body string
	}
	got := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+a.Addr()+"/", nil)
		req.Host = "slow.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- result{0, err.Error()}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		got <- result{resp.StatusCode, string(b)}
	}()
	<-arrived // the request reached the backend
	cancel()
	waitUntil(t, "shutdown to close the listener", func() bool { // and wait for the request
		c, err := net.DialTimeout("tcp", a.Addr(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	close(release)
	if r := <-got; r.code != 200 || r.body != "late" {
		t.Errorf("in-flight request during shutdown: got %d %q, want 200 %q", r.code, r.body, "late")
	}
	if err := <-done; err != nil {
		t.Errorf("Run() error = %v", err)
	}
}

// waitUntil waits until cond holds, failing the test after 10s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitfor.True(t, 10*time.Second, what, cond)
}

// logCount is a slog handler counting the records whose message is msg.
type logCount struct {
	msg string
	n   atomic.Int64
}

func (c *logCount) Enabled(context.Context, slog.Level) bool { return true }
func (c *logCount) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c *logCount) WithGroup(string) slog.Handler            { return c }
func (c *logCount) Handle(_ context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.n.Add(1)
	}
	return nil
}

func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
