package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// BenchmarkProxy measures a whole proxied request on loopback, client -> Proxy -> backend,
// by both paths, with net/http's client and server at the ends (their allocations count).
func BenchmarkProxy(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello world\n")
	}))
	defer be.Close()
	p := newProxy(b, Config{}, &edgeplanev1.Route{Name: "bench", Hosts: []string{"bench.test"}, Targets: targets(be.URL)})
	slow := httptest.NewServer(p)
	defer slow.Close()
	for _, front := range []struct{ name, url string }{{"fast", "http://" + serveFast(b, p)}, {"net-http", slow.URL}} {
		b.Run(front.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodGet, front.url+"/x", nil)
					req.Host = "bench.test"
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						b.Errorf("status %d", resp.StatusCode)
						return
					}
				}
			})
		})
	}
}

// BenchmarkFastPath measures the fast path alone: a raw client and a raw backend that
// allocate nothing, so allocs/op are the proxy's own per request. tracing=on publishes a
// request record per request through publish.Publisher into a real redis-server, so its
// allocs/op also count the publisher's sender goroutine (go-redis commands, a few per
// record; BenchmarkTrace has the request path's own: none); tracing=off publishes none. Both carry trace
// context (traceparent in, new span out, X-Trace-Id back).
func BenchmarkFastPath(b *testing.B) {
	be := rawKeepAlive(b, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n\r\nhello world\n")
	p := newProxy(b, Config{NodeID: "bench-node"}, &edgeplanev1.Route{Name: "bench", Hosts: []string{"bench.test"}, Targets: targets(be),
		RequestHeaders: &edgeplanev1.HeaderRules{Set: map[string]string{"X-Env": "bench"}}})
	addr := serveFast(b, p)
	req := []byte("GET /api/items?id=7 HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: bench/1.0\r\nAccept: */*\r\n" +
		"Accept-Encoding: gzip\r\nX-Forwarded-User: spoof\r\nTraceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n\r\n")
	for _, tracing := range []bool{false, true} {
		b.Run(fmt.Sprintf("tracing=%s", map[bool]string{false: "off", true: "on"}[tracing]), func(b *testing.B) {
			if tracing {
				pub := newDrainPublisher(b, 65536)
				defer pub.close()
				p.SetPublisher(pub, "")
				defer p.SetPublisher(nil, "")
			}
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				buf := make([]byte, 4096)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					if n, err := readResponse(c, buf); err != nil || n == 0 {
						b.Errorf("read: %v", err)
						return
					}
				}
			})
		})
	}
}

// drainPublisher is the agent's publisher as it runs: publish.Publisher sending to a real
// redis-server (started for the benchmark), packing records into blocks with the agent's
// settings (agent/internal/node's recordBlocks and traceLinger).
type drainPublisher struct {
	*publish.Publisher
	stop func()
}

func newDrainPublisher(tb testing.TB, size int) *drainPublisher {
	srv := redistest.New(tb)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	pub := publish.New(publish.Config{Client: rdb, Buffer: size, Linger: 100 * time.Millisecond,
		Pack: &publish.Packing{Field: requestlog.Field, Into: requestlog.BlockField,
			MaxRecords: requestlog.MaxBlockRecords, MaxBytes: requestlog.MaxBlockBytes}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = pub.Run(ctx); close(done) }()
	return &drainPublisher{Publisher: pub, stop: func() { cancel(); <-done; rdb.Close() }}
}

func (d *drainPublisher) close() { d.stop() }

// readResponse reads one response with a 12-byte body (the head ends the first read on
// loopback in practice; keep reading until the body's last byte).
func readResponse(c net.Conn, buf []byte) (int, error) {
	n := 0
	for {
		m, err := c.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
		if n >= 12 && string(buf[n-12:n]) == "hello world\n" {
			return n, nil
		}
	}
}

// rawKeepAlive is a backend answering every request on a connection with response.
func rawKeepAlive(b *testing.B, response string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte(response)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 8192)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					if err != nil {
						return
					}
					n += m
					for {
						i := bytes.Index(buf[:n], []byte("\r\n\r\n"))
						if i < 0 {
							break
						}
						n = copy(buf, buf[i+4:n])
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// BenchmarkLookup measures Match in a table of 10,000 routes: exact hosts, wildcards and
// several prefixes per host.
func BenchmarkLookup(b *testing.B) {
	var routes []rt
	for i := range 2500 {
		host := fmt.Sprintf("app%d.example.com", i)
		routes = append(routes,
			rt{name: fmt.Sprintf("r%d-root", i), hosts: []string{host}},
			rt{name: fmt.Sprintf("r%d-api", i), hosts: []string{host}, prefix: "/api"},
			rt{name: fmt.Sprintf("r%d-v2", i), hosts: []string{host}, prefix: "/api/v2", methods: []string{"GET"}},
			rt{name: fmt.Sprintf("r%d-wild", i), hosts: []string{fmt.Sprintf("*.tenant%d.example.net", i)}},
		)
	}
	tbl := buildTable(b, routes)
	cases := []struct{ name, host, path string }{
		{"exact", "app1234.example.com", "/api/v2/users/42"},
		{"wildcard", "a.b.tenant77.example.net", "/static/app.js"},
		{"miss", "nope.example.org", "/"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				tbl.Match(c.host, c.path, http.MethodGet)
			}
		})
	}
}

// BenchmarkResolve measures normalizing and routing a path that needs it (dot segments,
// escapes, a double slash): allocation-free once the connection's buffers have grown.
func BenchmarkResolve(b *testing.B) {
	p := newProxy(b, Config{}, &edgeplanev1.Route{Name: "api", Hosts: []string{"bench.test"}, PathPrefix: "/api",
		Targets: targets("http://127.0.0.1:1")})
	tbl := p.Table()
	raw := []byte("/static/..//api/%69tems/./7%2Dx")
	var bufs pathBufs
	b.ReportAllocs()
	for b.Loop() {
		if res := tbl.resolve("bench.test", raw, "GET", &bufs); res.rt == nil {
			b.Fatal("no route")
		}
	}
}
