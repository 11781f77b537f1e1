package proxy

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/requestlog"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// copyPublisher does what publish.Publisher does on the request path (copy the value under
// a lock) and throws the copies away once 1 MiB has gathered.
type copyPublisher struct {
	mu  sync.Mutex
	buf []byte
}

func (c *copyPublisher) PublishValue(_ uint8, _, _ string, value []byte) {
	c.mu.Lock()
	if len(c.buf)+len(value) > 1<<20 {
		c.buf = c.buf[:0]
	}
	c.buf = append(c.buf, value...)
	c.mu.Unlock()
}

// chanPublisher hands every record to the test.
type chanPublisher chan published

type published struct {
	stream string
	values map[string]any
}

func (c chanPublisher) PublishValue(_ uint8, stream, field string, value []byte) {
	c <- published{stream, map[string]any{field: string(value)}}
}

func (c chanPublisher) next(t *testing.T) (string, requestlog.Record) {
	t.Helper()
	select {
	case r := <-c:
		m := r.values
		rec, err := requestlog.Parse(m)
		if err != nil {
			t.Fatalf("record does not parse: %v (%v)", err, m)
		}
		return r.stream, rec
	case <-time.After(5 * time.Second):
		t.Fatal("no request record within 5s")
		return "", requestlog.Record{}
	}
}

// tracingBackend echoes the traceparent it received and sends its own trace headers,
// which the agent must replace.
func tracingBackend(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Got-Traceparent", strings.Join(r.Header.Values("Traceparent"), "|"))
		w.Header().Set("Traceparent", "00-11111111111111111111111111111111-2222222222222222-01")
		w.Header().Set("X-Trace-Id", "backend")
		w.WriteHeader(http.StatusTeapot)
		w.Write([]byte("tea"))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestTrace_ContextOnBothPaths(t *testing.T) {
	be := tracingBackend(t)
	p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "tr", Hosts: []string{"tr.test"}, Targets: targets(be.URL)})
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for mode, f := range paths(t, p) {
		for _, sent := range []string{parent, "", "00-zz-bad"} {
			t.Run(mode+"/"+strconv.Quote(sent), func(t *testing.T) {
				var hdr []string
				if sent != "" {
					hdr = []string{"Traceparent", sent}
				}
				resp, _ := get(t, f, "tr.test", "/", hdr...)
				got := resp.Header.Get("Got-Traceparent")
				sc, ok := tracectx.Parse(got)
				if !ok || strings.Contains(got, "|") {
					t.Fatalf("backend got traceparent %q, want one valid value", got)
				}
				if sent == parent {
					if sc.TraceIDString() != "0af7651916cd43dd8448eb211c80319c" || strings.HasPrefix(got[36:], "b7ad6b7169203331") {
						t.Errorf("backend got %q, want the client's trace with a new span", got)
					}
				} else if sc.TraceIDString() == "0af7651916cd43dd8448eb211c80319c" {
					t.Errorf("backend got %q, want a new trace", got)
				}
				if id := resp.Header.Values("X-Trace-Id"); len(id) != 1 || id[0] != sc.TraceIDString() {
					t.Errorf("X-Trace-Id = %q, want [%s]", id, sc.TraceIDString())
				}
				if tp := resp.Header.Values("Traceparent"); len(tp) != 1 || tp[0] != got {
					t.Errorf("response traceparent = %q, want [%s]", tp, got)
				}
			})
		}
	}
}

func TestTrace_Records(t *testing.T) {
	be := tracingBackend(t)
	p := newProxy(t, Config{NodeID: "edge-7"},
		&edgeplanev1.Route{Name: "tr", Hosts: []string{"tr.test"}, Targets: targets(be.URL + "/base")},
		&edgeplanev1.Route{Name: "down", Hosts: []string{"down.test"}, Targets: targets("http://" + closedAddr(t))})
	pub := make(chanPublisher, 16)
	p.SetPublisher(pub, "")
	rev := p.Table().Revision()
	for mode, f := range paths(t, p) {
		tests := []struct {
			host, path     string
			status         int
			route, backend string
		}{
			{"tr.test", "/a/b?q=1", http.StatusTeapot, "tr", be.URL + "/base"},
			{"nope.test", "/x", http.StatusNotFound, "", ""},
			{"down.test", "/", http.StatusBadGateway, "down", ""},
		}
		for _, tt := range tests {
			t.Run(mode+"/"+tt.host, func(t *testing.T) {
				resp, body := do(t, f, http.MethodPost, tt.host, tt.path, strings.NewReader("12345"))
				stream, rec := pub.next(t)
				if stream != DefaultRequestStream {
					t.Errorf("stream %q, want %q", stream, DefaultRequestStream)
				}
				wantPath, _, _ := strings.Cut(tt.path, "?")
				if resp.StatusCode != tt.status || rec.Status != tt.status || rec.Route != tt.route ||
					rec.Host != tt.host || rec.Method != http.MethodPost || rec.Path != wantPath ||
					rec.Node != "edge-7" || rec.Client != "127.0.0.1" || rec.Revision != rev {
					t.Errorf("got %d and record %+v, want %d route %q host %q path %q node edge-7 revision %d",
						resp.StatusCode, rec, tt.status, tt.route, tt.host, wantPath, rev)
				}
				if tt.route == "tr" && rec.Upstream != tt.backend {
					t.Errorf("upstream %q, want %q", rec.Upstream, tt.backend)
				}
				if tt.route == "" && rec.Upstream != "" {
					t.Errorf("upstream %q, want none", rec.Upstream)
				}
				if rec.TraceID != resp.Header.Get("X-Trace-Id") || len(rec.SpanID) != 16 {
					t.Errorf("trace %q span %q, want trace %q", rec.TraceID, rec.SpanID, resp.Header.Get("X-Trace-Id"))
				}
				if rec.BytesIn < 5 || rec.BytesOut < int64(len(body)) || rec.Duration <= 0 {
					t.Errorf("bytes in %d out %d duration %v", rec.BytesIn, rec.BytesOut, rec.Duration)
				}
			})
		}
	}
	p.SetPublisher(nil, "")
	get(t, paths(t, p)["fast"], "tr.test", "/")
	select {
	case r := <-pub:
		t.Errorf("record %v published after SetPublisher(nil)", r)
	case <-time.After(50 * time.Millisecond):
	}
}

// BenchmarkTraceCost is the per-request trace work without the network: continue the
// client's trace, write the outgoing traceparent and the response headers, and (on) build
// and publish the record.
func BenchmarkTraceCost(b *testing.B) {
	in := []byte("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	rt := &Route{name: "bench"}
	tg, _ := newTarget("http://10.0.0.1:8080")
	p := &Proxy{node: "bench-node"}
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "headers", true: "headers+record"}[on], func(b *testing.B) {
			pub := &copyPublisher{}
			tr := &tracing{pub: pub, stream: DefaultRequestStream}
			rng := newRand()
			buf := make([]byte, 0, 256)
			var rec []byte
			b.ReportAllocs()
			for b.Loop() {
				sc := span(in, rng)
				buf = appendTraceHeaders(appendTraceparent(buf[:0], &sc), &sc)
				if on {
					rec = tr.record(p, &sc, "bench.test", http.MethodGet, "/api/items", "127.0.0.1",
						&exchange{status: 200, duration: time.Millisecond, bytesIn: 180, bytesOut: 120, route: rt, target: tg, revision: 7}, rec)
				}
			}
		})
	}
}
