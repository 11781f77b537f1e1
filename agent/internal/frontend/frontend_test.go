package frontend

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	proxyproto "github.com/pires/go-proxyproto"

	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// start runs a Server on loopback HTTP and HTTPS listeners serving u until the test ends
// (or until the test calls its Shutdown).
func start(t *testing.T, cfg Config, u *edgeplanev1.ConfigUpdate) *Server {
	t.Helper()
	return startLimits(t, proxy.Limits{}, cfg, u)
}

// startLimits is start with a proxy bounded by lim.
func startLimits(t testing.TB, lim proxy.Limits, cfg Config, u *edgeplanev1.ConfigUpdate) *Server {
	t.Helper()
	cfg.Proxy, cfg.HTTPAddr, cfg.HTTPSAddr = serving(t, lim, u), "127.0.0.1:0", "127.0.0.1:0"
	s := New(cfg)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-done; err != nil {
			t.Errorf("Serve() error = %v", err)
		}
	})
	return s
}

// serving returns a proxy bounded by lim serving u (as revision 1, a snapshot).
func serving(t testing.TB, lim proxy.Limits, u *edgeplanev1.ConfigUpdate) *proxy.Proxy {
	t.Helper()
	p, err := proxy.New(proxy.Config{Limits: lim})
	if err != nil {
		t.Fatal(err)
	}
	u.Revision, u.Snapshot = 1, true
	set, err := (*routeset.Set)(nil).Apply(u)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := p.Build(set)
	if err != nil {
		t.Fatal(err)
	}
	p.Swap(tbl)
	return p
}

// echo reports the request's protocol and forwarding headers.
func echo(t *testing.T) string {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Got-XFP", r.Header.Get("X-Forwarded-Proto"))
		w.Header().Set("Got-XFF", r.Header.Get("X-Forwarded-For"))
		w.Header().Set("Got-Forwarded", r.Header.Get("Forwarded"))
		io.WriteString(w, "hello")
	}))
	t.Cleanup(be.Close)
	return be.URL
}

// wsEcho is a WebSocket backend echoing messages prefixed with the forwarded protocol.
func wsEcho(t *testing.T) string {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err == nil {
			c.Write(r.Context(), typ, append([]byte("proto="+r.Header.Get("X-Forwarded-Proto")+" "), msg...))
		}
		c.Read(r.Context())
	}))
	t.Cleanup(be.Close)
	return be.URL
}

func route(name, host, url string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{host}, Targets: []*edgeplanev1.Target{{Url: url}}}
}

func cert(t *testing.T, name string) *edgeplanev1.TlsCertificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kb, _ := x509.MarshalECPrivateKey(key)
	return &edgeplanev1.TlsCertificate{Name: name, Domains: []string{name},
		CertificatePem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKeyPem:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})}
}

// client returns an HTTPS client sending SNI serverName: HTTP/2 if h2, else HTTP/1.1.
func client(t *testing.T, serverName string, h2 bool) *http.Client {
	tr := &http.Transport{TLSClientConfig: &tls.Config{ServerName: serverName, InsecureSkipVerify: true}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, url, host string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestServer_HTTPSAndHTTP2(t *testing.T) {
	be := echo(t)
	secure := route("secure", "secure.test", be)
	secure.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: "secure.test", RedirectHttp: true}
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{
		Routes:       []*edgeplanev1.Route{secure, route("plain", "plain.test", be), route("ws", "ws.test", wsEcho(t))},
		Certificates: []*edgeplanev1.TlsCertificate{cert(t, "secure.test")},
	})
	tests := []struct {
		name, sni, host string
		h2              bool
		wantProto       int
		wantCN          string
	}{
		{"http/1.1 by SNI", "secure.test", "secure.test", false, 1, "secure.test"},
		{"h2 by SNI", "secure.test", "secure.test", true, 2, "secure.test"},
		{"unknown name gets the default", "plain.test", "plain.test", true, 2, "edgeplane default certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := get(t, client(t, tt.sni, tt.h2), "https://"+s.HTTPSAddr()+"/", tt.host)
			if resp.StatusCode != 200 || body != "hello" || resp.ProtoMajor != tt.wantProto {
				t.Fatalf("got %d %q over HTTP/%d, want 200 %q over HTTP/%d", resp.StatusCode, body, resp.ProtoMajor, "hello", tt.wantProto)
			}
			if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != tt.wantCN {
				t.Errorf("certificate %q, want %q", cn, tt.wantCN)
			}
			if resp.Header.Get("Got-XFP") != "https" || !strings.HasSuffix(resp.Header.Get("Got-Forwarded"), "proto=https") {
				t.Errorf("X-Forwarded-Proto %q, Forwarded %q; want https", resp.Header.Get("Got-XFP"), resp.Header.Get("Got-Forwarded"))
			}
		})
	}
	t.Run("plain HTTP redirects to the HTTPS port", func(t *testing.T) {
		resp, _ := get(t, client(t, "", false), "http://"+s.HTTPAddr()+"/x", "secure.test")
		if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://secure.test") {
			t.Errorf("got %d to %q, want 301 to https://secure.test...", resp.StatusCode, resp.Header.Get("Location"))
		}
	})
	t.Run("WebSocket over TLS", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, "wss://"+s.HTTPSAddr()+"/ws", &websocket.DialOptions{Host: "ws.test", HTTPClient: client(t, "ws.test", false)})
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.CloseNow()
		c.Write(ctx, websocket.MessageText, []byte("hi"))
		if _, got, err := c.Read(ctx); err != nil || string(got) != "proto=https hi" {
			t.Errorf("read %q, %v; want %q", got, err, "proto=https hi")
		}
	})
	t.Run("TLS 1.1 refused", func(t *testing.T) {
		c, err := tls.Dial("tcp", s.HTTPSAddr(), &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11})
		if err == nil {
			c.Close()
			t.Error("TLS 1.1 handshake succeeded, want it refused")
		}
	})
}

func TestServer_ProxyProtocol(t *testing.T) {
	be := echo(t)
	s := start(t, Config{ProxyProtocol: true, ProxyProtocolFrom: []string{"127.0.0.0/8"}}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("pp", "pp.test", be)}})
	for _, version := range []byte{1, 2} {
		for _, secure := range []bool{false, true} {
			addr := s.HTTPAddr()
			if secure {
				addr = s.HTTPSAddr()
			}
			tr := &http.Transport{
				TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
					if err != nil {
						return nil, err
					}
					h := proxyproto.HeaderProxyFromAddrs(version, &net.TCPAddr{IP: net.ParseIP("203.0.113.7"), Port: 4242}, c.RemoteAddr())
					_, err = h.WriteTo(c)
					return c, err
				},
			}
			scheme := "http"
			if secure {
				scheme = "https"
			}
			resp, _ := get(t, &http.Client{Transport: tr}, scheme+"://"+addr+"/", "pp.test")
			tr.CloseIdleConnections()
			if got := resp.Header.Get("Got-XFF"); got != "203.0.113.7" {
				t.Errorf("v%d %s: X-Forwarded-For %q, want the PROXY header's source 203.0.113.7", version, scheme, got)
			}
		}
	}
	// Without a PROXY header the connection is refused.
	c := &http.Client{Timeout: 2 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr()+"/", nil)
	req.Host = "pp.test"
	if resp, err := c.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("request without a PROXY header: got %d, want the connection refused", resp.StatusCode)
	}
}

func TestServer_ShutdownDrains(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			c, err := websocket.Accept(w, r, nil)
			if err != nil {
				return
			}
			defer c.CloseNow()
			c.Read(context.Background()) // until the proxy closes it
			return
		}
		arrived <- struct{}{}
		<-release
		io.WriteString(w, "late")
	}))
	t.Cleanup(be.Close)
	p, _ := proxy.New(proxy.Config{})
	set, _ := (*routeset.Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{route("d", "d.test", be.URL)}})
	tbl, _ := p.Build(set)
	p.Swap(tbl)
	s := New(Config{Proxy: p, HTTPAddr: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()

	ws, _, err := websocket.Dial(t.Context(), "ws://"+s.HTTPAddr()+"/ws", &websocket.DialOptions{Host: "d.test"})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	idle, err := net.Dial("tcp", s.HTTPAddr()) // an idle keep-alive connection
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	inflight := make(chan string, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, "http://"+s.HTTPAddr()+"/slow", nil)
		req.Host = "d.test"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			inflight <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		inflight <- fmt.Sprintf("close=%v %s", resp.Close, b)
	}()
	<-arrived // the slow request is in flight

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	shut := make(chan error, 1)
	began := time.Now()
	go func() { shut <- s.Shutdown(ctx) }()
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", s.HTTPAddr(), 200*time.Millisecond)
		if err != nil {
			break // the listener is closed
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting 2s after Shutdown began")
		}
	}
	idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := idle.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("idle connection: read error %v, want EOF (closed at once)", err)
	}
	close(release)
	if got := <-inflight; got != "close=true late" {
		t.Errorf("in-flight request: got %q, want %q (finished, then the connection closed)", got, "close=true late")
	}
	if _, _, err := ws.Read(t.Context()); err == nil {
		t.Error("WebSocket read succeeded, want the connection closed at the drain timeout")
	}
	if err := <-shut; !errors.Is(err, context.DeadlineExceeded) || time.Since(began) < 450*time.Millisecond {
		t.Errorf("Shutdown() = %v after %v, want DeadlineExceeded after the drain timeout (a WebSocket was open)", err, time.Since(began))
	}
	if err := <-served; err != nil {
		t.Errorf("Serve() = %v", err)
	}
}
