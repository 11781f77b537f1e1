//go:build unix

package frontend

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// named is a backend answering its name.
func named(t *testing.T, name string) string {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(be.Close)
	return be.URL
}

// serveOn runs a Server on addr (HTTP only) whose one route sends every request to target;
// it returns the Server and a function that shuts it down and waits for Serve.
func serveOn(t *testing.T, addr string, reuse bool, target string) (*Server, func(), error) {
	t.Helper()
	p := serving(t, proxy.Limits{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("r", "app.test", target)}})
	s := New(Config{Proxy: p, HTTPAddr: addr, ReusePort: reuse})
	if err := s.Listen(); err != nil {
		return nil, nil, err
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve() error = %v", err)
		}
	}
	t.Cleanup(stop)
	return s, stop, nil
}

// fresh makes one request on a new connection (no keep-alive) and returns the body, or the
// error (a refused or reset connection).
func fresh(addr string) (string, error) {
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Host = "app.test"
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// Two agents' listeners with ReusePort share one address and the kernel spreads new
// connections over both; without it (on either side) the second bind fails, as it always did.
func TestServer_ReusePortSharesTheAddress(t *testing.T) {
	a, _, err := serveOn(t, "127.0.0.1:0", true, named(t, "a"))
	if err != nil {
		t.Fatal(err)
	}
	addr := a.HTTPAddr()
	if _, _, err := serveOn(t, addr, false, named(t, "x")); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("a second listener without ReusePort: got %v, want address already in use", err)
	}
	if _, _, err := serveOn(t, addr, true, named(t, "b")); err != nil {
		t.Fatalf("a second listener with ReusePort: %v", err)
	}
	seen := map[string]int{}
	for range 64 {
		body, err := fresh(addr)
		if err != nil {
			t.Fatal(err)
		}
		seen[body]++
	}
	if seen["a"] == 0 || seen["b"] == 0 || len(seen) != 2 {
		t.Errorf("64 new connections were served by %v; want both agents (a and b) and nothing else", seen)
	}

	// A listener that did not ask for sharing keeps its address to itself.
	plain, _, err := serveOn(t, "127.0.0.1:0", false, named(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := serveOn(t, plain.HTTPAddr(), true, named(t, "q")); err == nil {
		t.Error("ReusePort on an address bound without it: got no error, want address already in use")
	}
}

// When one of two agents sharing an address stops (draining, as on SIGTERM), the other
// serves every new connection from then on. (Connections that completed their handshake
// into the stopping agent's accept queue as it closed are reset by the kernel: the known
// limit of SO_REUSEPORT, which the README states; this test does not race the close.)
func TestServer_ReusePortOtherAgentServesAfterOneStops(t *testing.T) {
	old, stopOld, err := serveOn(t, "127.0.0.1:0", true, named(t, "old"))
	if err != nil {
		t.Fatal(err)
	}
	addr := old.HTTPAddr()
	if _, _, err := serveOn(t, addr, true, named(t, "new")); err != nil {
		t.Fatal(err)
	}
	stopOld()
	for range 32 {
		if body, err := fresh(addr); err != nil || body != "new" {
			t.Fatalf("after the old agent stopped: got %q, %v; want every connection served by the other one", body, err)
		}
	}
}
