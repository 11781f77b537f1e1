package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Hostile-traffic tests send raw bytes over real TCP connections to both of the proxy's
// paths (issue 10), with real httptest backends behind it.

// rawFronts serves p on the fast path (handing over to net/http as the agent does) and on
// net/http alone, configured as the frontend configures it; it returns their addresses.
func rawFronts(t *testing.T, p *Proxy) map[string]string {
	t.Helper()
	fronts := map[string]string{}
	for mode, f := range paths(t, p) {
		fronts[mode] = strings.TrimPrefix(f.url, "http://")
	}
	return fronts
}

// reply is one response read from a raw exchange, its body read whole.
type reply struct {
	status int
	header http.Header
	body   string
}

// rawExchange writes raw to addr (from another goroutine, so a large body cannot block the
// reads) and reads responses until the connection closes or 10 s pass.
func rawExchange(t *testing.T, addr, raw string) []reply {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, raw)
	br := bufio.NewReader(c)
	var out []reply
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return out
		}
		b, _ := io.ReadAll(resp.Body)
		out = append(out, reply{resp.StatusCode, resp.Header, string(b)})
	}
}

// one sends raw and returns the single response, failing unless there is exactly one.
func one(t *testing.T, addr, raw string) reply {
	t.Helper()
	rs := rawExchange(t, addr, raw)
	if len(rs) != 1 {
		t.Fatalf("%q: got %d responses %+v, want 1", raw, len(rs), rs)
	}
	return rs[0]
}

// recorder is a backend that records the request-target of every request it gets and
// echoes it, with the headers, in its response.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex // guards uris
	uris []string
}

func newRecorder(t *testing.T) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.uris = append(rec.uris, r.RequestURI)
		rec.mu.Unlock()
		for k, v := range r.Header {
			w.Header()["Got-"+k] = v
		}
		w.Header().Set("Got-Host", r.Host)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, r.RequestURI)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (r *recorder) seen(uri string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.uris {
		if u == uri {
			n++
		}
	}
	return n
}

// getRaw is a GET for target on host with extra header lines hdr, closing the connection
// after the response.
func getRaw(host, target string, hdr ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n" + strings.Join(hdr, "") + "\r\n"
}
