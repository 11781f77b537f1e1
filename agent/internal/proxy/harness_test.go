package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// newProxy returns a Proxy serving routes (and nothing before Swap if there are none).
func newProxy(t testing.TB, cfg Config, routes ...*edgeplanev1.Route) *Proxy {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if routes != nil {
		apply(t, p, &edgeplanev1.ConfigUpdate{Routes: routes})
	}
	return p
}

var revision int64

// apply swaps in a table built from the snapshot u (its revision is filled in).
func apply(t testing.TB, p *Proxy, u *edgeplanev1.ConfigUpdate) *Table {
	t.Helper()
	revision++
	u.Revision, u.Snapshot = revision, true
	tbl, err := p.Build(mustSet(t, u))
	if err != nil {
		t.Fatalf("Build() error = %v", err)
	}
	p.Swap(tbl)
	return tbl
}

func mustSet(t testing.TB, u *edgeplanev1.ConfigUpdate) *routeset.Set {
	t.Helper()
	s, err := (*routeset.Set)(nil).Apply(u)
	if err != nil {
		t.Fatalf("routeset.Apply() error = %v", err)
	}
	return s
}

// front is the proxy as clients reach it, by one of the two paths.
type front struct {
	url    string
	client *http.Client
}

// paths serves p both ways: "fast" is the HTTP/1.1 fast path (handing over to net/http
// what it does not take, as the agent's listener does), "net/http" is ServeHTTP alone.
func paths(t *testing.T, p *Proxy) map[string]front {
	t.Helper()
	slow := httptest.NewUnstartedServer(p)
	configure(slow.Config, p)
	slow.Start()
	t.Cleanup(slow.Close)
	addr := serveFast(t, p)
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return map[string]front{
		"fast":     {"http://" + addr, &http.Client{Transport: tr}},
		"net/http": {slow.URL, slow.Client()},
	}
}

// serveFast runs the fast path on a loopback listener until the test ends.
func serveFast(t testing.TB, p *Proxy) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	handoff := &chanLn{ch: make(chan net.Conn), done: make(chan struct{}), addr: ln.Addr()}
	hs := &http.Server{Handler: p}
	configure(hs, p)
	go hs.Serve(handoff)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				if hc := p.NewConn(c, false).Serve(); hc != nil {
					select {
					case handoff.ch <- hc:
					case <-handoff.done:
						hc.Close()
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); hs.Close() })
	return ln.Addr().String()
}

// configure sets up hs as the agent's frontend sets up its net/http server.
func configure(hs *http.Server, p *Proxy) {
	lim := p.Limits()
	hs.MaxHeaderBytes = lim.MaxHeaderBytes - 4096
	hs.ReadHeaderTimeout, hs.IdleTimeout = lim.HeaderTimeout, lim.IdleTimeout
	hs.ConnState = IdleConnState
}

type chanLn struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func (l *chanLn) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, errors.New("closed")
	}
}
func (l *chanLn) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *chanLn) Addr() net.Addr { return l.addr }

// do sends a request with host and headers (pairs) and returns the response with its body
// read.
func do(t *testing.T, f front, method, host, path string, body io.Reader, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), method, f.url+path, body)
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s%s: %v", method, host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, f front, host, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	return do(t, f, http.MethodGet, host, path, nil, hdr...)
}

func targets(urls ...string) []*edgeplanev1.Target {
	var ts []*edgeplanev1.Target
	for _, u := range urls {
		ts = append(ts, &edgeplanev1.Target{Url: u})
	}
	return ts
}

// echo is a backend that reports what it received in response headers.
func echo(t testing.TB, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Backend", name)
		w.Header().Set("Got-Host", r.Host)
		w.Header().Set("Got-URI", r.RequestURI)
		for k, v := range r.Header {
			w.Header().Set("Got-"+k, strings.Join(v, "|"))
		}
		w.Header().Set("Secret", "s3cret")
		io.WriteString(w, "hello from "+name)
	}))
	t.Cleanup(s.Close)
	return s
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
