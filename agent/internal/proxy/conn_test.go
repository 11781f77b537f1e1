package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// countingBackend counts the connections it accepts.
func countingBackend(t *testing.T, idle time.Duration) (*httptest.Server, *atomic.Int32) {
	s, opened, _ := closingBackend(t, idle)
	return s, opened
}

// closingBackend is countingBackend that also counts the connections closed, by either side.
func closingBackend(t *testing.T, idle time.Duration) (s *httptest.Server, opened, closed *atomic.Int32) {
	opened, closed = new(atomic.Int32), new(atomic.Int32)
	s = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	s.Config.IdleTimeout = idle
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed, http.StateHijacked:
			closed.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, opened, closed
}

// waitClosed waits until closed reaches n.
func waitClosed(t *testing.T, closed *atomic.Int32, n int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); closed.Load() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backend connections closed: got %d, want %d", closed.Load(), n)
		}
	}
}

func TestProxy_KeepAlive(t *testing.T) {
	be, conns := countingBackend(t, 0)
	p := newProxy(t, Config{}, route("ka", "ka.test", be.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			conns.Store(0)
			var reused int
			for range 20 {
				ctx := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
					GotConn: func(i httptrace.GotConnInfo) {
						if i.Reused {
							reused++
						}
					}})
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/", nil)
				req.Host = "ka.test"
				resp, err := f.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if reused != 19 || conns.Load() != 1 {
				t.Errorf("20 requests: client connection reused %d times, %d backend connections; want 19 and 1", reused, conns.Load())
			}
		})
	}
}

func TestProxy_BackendClosedIdleConnection(t *testing.T) {
	be, conns, closed := closingBackend(t, 30*time.Millisecond)
	p := newProxy(t, Config{}, route("idle", "idle.test", be.URL))
	f := paths(t, p)["fast"]
	for i := range 3 {
		if resp, body := do(t, f, http.MethodPut, "idle.test", "/", strings.NewReader("small body")); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: got %d %q, want 200 on a fresh connection", i, resp.StatusCode, body)
		}
		waitClosed(t, closed, int32(i+1)) // the backend closed the idle connection
	}
	if conns.Load() != 3 {
		t.Errorf("backend connections = %d, want 3", conns.Load())
	}
}

func TestProxy_WebSocket(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			c.Write(r.Context(), typ, append([]byte("echo: "), msg...))
		}
	}))
	t.Cleanup(be.Close)
	p := newProxy(t, Config{}, route("ws", "ws.test", be.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(f.url, "http")+"/socket", &websocket.DialOptions{Host: "ws.test"})
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.CloseNow()
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Errorf("status %d, want 101", resp.StatusCode)
			}
			if p.Upgraded() < 1 {
				t.Errorf("Upgraded() = %d, want the connection tracked", p.Upgraded())
			}
			for _, m := range []string{"one", "two"} {
				if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
					t.Fatal(err)
				}
				if _, got, err := c.Read(ctx); err != nil || string(got) != "echo: "+m {
					t.Fatalf("read %q, %v; want %q", got, err, "echo: "+m)
				}
			}
			c.Close(websocket.StatusNormalClosure, "")
		})
	}
	for deadline := time.Now().Add(2 * time.Second); p.Upgraded() > 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("Upgraded() = %d after the sockets closed, want 0", p.Upgraded())
		}
	}
}

func TestProxy_Metrics(t *testing.T) {
	be := echo(t, "be")
	m := metrics.New()
	p := newProxy(t, Config{Metrics: m}, route("web", "web.test", be.URL), route("down", "down.test", "http://"+closedAddr(t)))
	for _, f := range paths(t, p) {
		get(t, f, "web.test", "/")
		get(t, f, "down.test", "/")
		get(t, f, "nope.test", "/")
	}
	// A request is counted after its response is written, so the client may see the answer
	// a moment before the counter moves.
	wants := []string{
		`edgeplane_agent_requests_total{code_class="2xx",route="web"} 2`,
		`edgeplane_agent_requests_total{code_class="5xx",route="down"} 2`,
		`edgeplane_agent_requests_total{code_class="4xx",route="(none)"} 2`,
		`edgeplane_agent_request_duration_seconds_count{route="web"} 2`,
		`edgeplane_agent_upstream_errors_total{kind="connect",route="down"} 2`,
	}
	var missing []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(rec.Body.String(), want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range missing {
		t.Errorf("metrics lack %q", want)
	}
}

// 100 table swaps, one every 10 ms, while clients on both paths send requests: every
// request is answered by one backend or the other, none fails. The test runs until the
// swaps and at least 500 requests are done (counts, not a time window, so a busy machine
// only makes it slower).
func TestProxy_ReloadUnderLoad(t *testing.T) {
	const wantSwaps, wantServed = 100, 500
	a, b := echo(t, "a"), echo(t, "b")
	p := newProxy(t, Config{}, route("live", "live.test", a.URL))
	fronts := paths(t, p)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute) // bounds a hang only
	defer cancel()
	var swaps, ok, failed atomic.Int32
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < wantSwaps; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			be := a.URL
			if i%2 == 1 {
				be = b.URL
			}
			apply(t, p, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("live", "live.test", be),
				route("other", "other.test", be), {Name: "churn", Hosts: []string{"churn.test"}, Targets: targets(be), Priority: int32(i % 1000)}}})
			swaps.Add(1)
		}
	}()
	done := func() bool {
		select {
		case <-swapped:
			return ok.Load() >= wantServed
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	for mode, f := range fronts {
		for range 4 {
			wg.Go(func() {
				for ctx.Err() == nil && !done() {
					req, _ := http.NewRequest(http.MethodGet, f.url+"/", nil)
					req.Host = "live.test"
					resp, err := f.client.Do(req)
					if err != nil {
						failed.Add(1)
						t.Errorf("%s: %v", mode, err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello from ") {
						failed.Add(1)
						t.Errorf("%s: got %d %q", mode, resp.StatusCode, body)
						return
					}
					ok.Add(1)
				}
			})
		}
	}
	wg.Wait()
	if swaps.Load() < wantSwaps || ok.Load() < wantServed || failed.Load() > 0 {
		t.Errorf("%d swaps, %d requests served, %d failed; want %d swaps, >= %d served, none failed",
			swaps.Load(), ok.Load(), failed.Load(), wantSwaps, wantServed)
	}
}

func TestProxy_Timeouts(t *testing.T) {
	be, conns := countingBackend(t, 0)
	p := newProxy(t, Config{},
		&edgeplanev1.Route{Name: "idle", Hosts: []string{"idle.test"}, Targets: targets(be.URL),
			Timeouts: &edgeplanev1.Timeouts{Idle: durationpb.New(50 * time.Millisecond)}},
		&edgeplanev1.Route{Name: "blackhole", Hosts: []string{"bh.test"}, Targets: targets("http://" + blackhole(t)),
			Timeouts: &edgeplanev1.Timeouts{Connect: durationpb.New(100 * time.Millisecond)}},
	)
	for mode, f := range paths(t, p) {
		t.Run(mode+"/idle", func(t *testing.T) {
			conns.Store(0)
			get(t, f, "idle.test", "/")
			get(t, f, "idle.test", "/") // reuses the backend connection
			// The fast path ages pooled connections out when it next looks (no timer closes
			// them), so time must pass: the timeout is the subject of the test.
			time.Sleep(120 * time.Millisecond)
			get(t, f, "idle.test", "/") // the pooled connection idled out
			if conns.Load() != 2 {
				t.Errorf("backend connections = %d, want 2", conns.Load())
			}
		})
		t.Run(mode+"/connect", func(t *testing.T) {
			resp, body := get(t, f, "bh.test", "/")
			if resp.StatusCode != http.StatusGatewayTimeout || body != "edgeplane: route \"blackhole\": upstream timed out\n" {
				t.Errorf("got %d %q, want 504 with the timeout body", resp.StatusCode, body)
			}
		})
	}
}

// blackhole returns a loopback address whose connection attempts hang: a listener with a
// backlog of 0 whose queue is already full, so new SYNs are dropped.
func blackhole(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 4 { // fill the accept queue
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
		c.Close()
		t.Skip("connections to a full listener succeed here; no connect timeout to test")
	}
	return addr
}

// A deadline is re-armed only when the one set is later than wanted or short of it by more
// than a sixteenth of the timeout; a zeroed record always sets it.
func TestSetWithin_ReArmsOnlyWhenOff(t *testing.T) {
	var by int64
	var sets []time.Time
	set := func(d time.Time) error { sets = append(sets, d); return nil }
	setWithin(&by, time.Now(), time.Hour, set)
	setWithin(&by, time.Now(), time.Hour, set) // a moment later: the deadline set is close enough
	if len(sets) != 1 {
		t.Fatalf("two calls within a moment set %d deadlines, want 1", len(sets))
	}
	setWithin(&by, time.Now(), time.Second, set) // a shorter timeout: the deadline set is too late
	if len(sets) != 2 || time.Until(sets[1]) > time.Second {
		t.Fatalf("a shorter timeout: deadlines %v, want a second one within 1s", sets)
	}
	by -= int64(time.Second / 8) // as if set 125 ms ago: more than 1/16 s short
	setWithin(&by, time.Now(), time.Second, set)
	by = 0 // someone else moved the deadline
	setWithin(&by, time.Now(), time.Second, set)
	if len(sets) != 4 {
		t.Errorf("got %d deadlines set, want 4", len(sets))
	}
}
