package frontend

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	proxyproto "github.com/pires/go-proxyproto"

	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// rawGet sends a GET for host on c and returns the status, or an error if the connection
// was closed without a response.
func rawGet(c net.Conn, host string) (int, error) {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestServer_ProxyProtocolFromUntrustedPeerRefused(t *testing.T) {
	be := echo(t)
	s := start(t, Config{ProxyProtocol: true, ProxyProtocolFrom: []string{"192.0.2.0/24"}},
		&edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("pp", "pp.test", be)}})
	c := dial(t, s.HTTPAddr())
	h := proxyproto.HeaderProxyFromAddrs(1, &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 4242}, c.RemoteAddr())
	if _, err := h.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	if status, err := rawGet(c, "pp.test"); err == nil {
		t.Errorf("PROXY header from an untrusted peer: got %d, want the connection closed", status)
	}
	// The same peer without a header is served as itself.
	if status, err := rawGet(dial(t, s.HTTPAddr()), "pp.test"); err != nil || status != 200 {
		t.Errorf("plain request from an untrusted peer: got %d, %v; want 200", status, err)
	}
}

func TestServer_ProxyProtocolWithoutFromFailsAtListen(t *testing.T) {
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Proxy: p, HTTPAddr: "127.0.0.1:0", ProxyProtocol: true})
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "--proxy-protocol-from") {
		t.Errorf("Listen() error = %v, want one naming --proxy-protocol-from", err)
	}
}

func TestServer_MaxConnsClosesExcessConnections(t *testing.T) {
	be := echo(t)
	s := startLimits(t, proxy.Limits{MaxConns: 2}, Config{},
		&edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("mc", "mc.test", be)}})
	for i := range 2 { // two connections being served: each has answered once
		if status, err := rawGet(dial(t, s.HTTPAddr()), "mc.test"); err != nil || status != 200 {
			t.Fatalf("connection %d: got %d, %v; want 200", i, status, err)
		}
	}
	if status, err := rawGet(dial(t, s.HTTPAddr()), "mc.test"); err == nil {
		t.Errorf("third connection over --max-conns 2: got %d, want it closed", status)
	}
}

func TestServer_SlowLorisHeadClosedAfterHeaderTimeout(t *testing.T) {
	be := echo(t)
	s := startLimits(t, proxy.Limits{HeaderTimeout: 300 * time.Millisecond}, Config{},
		&edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("sl", "sl.test", be)}})
	c := dial(t, s.HTTPAddr())
	start := time.Now()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: sl.test\r\nX-A: 1\r\n")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	// Keep trickling header bytes; the head must still be cut at the header timeout.
	go func() {
		for range 40 {
			if _, err := io.WriteString(c, "X-B: 2\r\n"); err != nil {
				return
			}
			time.Sleep(50 * time.Millisecond) // the slow client's pace, not synchronisation
		}
	}()
	// Closed with trickled bytes still unread, the connection may end in a reset, not EOF.
	_, err := io.ReadAll(c)
	if d := time.Since(start); err != nil && !errors.Is(err, syscall.ECONNRESET) || d > 3*time.Second {
		t.Errorf("slow head: read ended after %v with %v; want the connection closed at the 300ms header timeout", d, err)
	}
}

// A connection handed over to net/http (here by a chunked request) keeps the fast path's
// header limit for its next requests.
func TestServer_HandedOverConnectionKeepsHeaderLimit(t *testing.T) {
	be := echo(t)
	s := startLimits(t, proxy.Limits{MaxHeaderBytes: 16 << 10}, Config{},
		&edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("hl", "hl.test", be)}})
	c := dial(t, s.HTTPAddr())
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: hl.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"+
		"GET / HTTP/1.1\r\nHost: hl.test\r\nX-Big: "+strings.Repeat("a", 20<<10)+"\r\n\r\n")
	br := bufio.NewReader(c)
	var got []int
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		io.Copy(io.Discard, resp.Body)
		got = append(got, resp.StatusCode)
	}
	if len(got) != 2 || got[0] != 200 || got[1] != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("chunked request then a 20 KiB header: got %v, want [200 431]", got)
	}
}

// HTTP/2 requests (net/http's server) get the same Host checks and path normalization.
func TestServer_HTTP2HostileRequests(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.RequestURI)
	}))
	t.Cleanup(be.Close)
	admin := route("admin", "app.test", be.URL)
	admin.PathPrefix = "/admin"
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{admin, route("app", "app.test", be.URL+"/root")}})
	c := client(t, "app.test", true)
	tests := []struct {
		host, path string
		status     int
		body       string
	}{
		{"app.test", "/public/../admin/x", 200, "/admin/x"},
		{"app.test", "/public/%2e%2e/admin", 200, "/admin"},
		{"app.test", "/public/..%2Fadmin", 400, ""},
		{"app.test:99999", "/", 400, ""}, // (Go's client refuses to send "a:@b" itself)
		{"APP.test", "/x", 200, "/root/x"},
	}
	for _, tt := range tests {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+s.HTTPSAddr()+tt.path, nil)
		req.Host = tt.host
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.host, tt.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != tt.status || tt.body != "" && string(b) != tt.body {
			t.Errorf("HTTP/%d %s %s: got %d %q, want %d %q", resp.ProtoMajor, tt.host, tt.path, resp.StatusCode, b, tt.status, tt.body)
		}
	}
}
