package frontend

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgeplane/edgeplane/agent/internal/h2conn"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// rawBackend is an HTTP/1.1 backend that records each request head as sent, byte for byte,
// and answers "ok" (keep-alive).
type rawBackend struct {
	ln    net.Listener
	mu    sync.Mutex
	heads []string
}

func newRawBackend(t testing.TB) *rawBackend {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &rawBackend{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *rawBackend) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var head strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			head.WriteString(line)
			if line == "\r\n" {
				break
			}
		}
		b.mu.Lock()
		b.heads = append(b.heads, head.String())
		b.mu.Unlock()
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Backend: raw\r\n\r\nok")
	}
}

func (b *rawBackend) last() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.heads[len(b.heads)-1]
}

func (b *rawBackend) url() string { return "http://" + b.ln.Addr().String() }

// HTTP/2 requests are served by the HTTP/1.1 fast path: the backend gets the client's
// fields as sent (lower-case, in order: net/http would canonicalize them), cookies joined
// into one field (RFC 9113 8.2.3), Host from :authority, the forwarding headers.
func TestServer_HTTP2ServedByFastPath(t *testing.T) {
	be := newRawBackend(t)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	h := dialH2(t, s.HTTPSAddr())
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, EndHeaders: true,
		BlockFragment: h.get("x-test", "1", "cookie", "a=1", "cookie", "b=2")})
	if status, code := h.answer(1); status != 200 {
		t.Fatalf("got %d, %v; want 200", status, code)
	}
	head := be.last()
	for _, want := range []string{"GET / HTTP/1.1\r\n", "Host: app.test\r\n", "\r\nx-test: 1\r\n", "\r\ncookie: a=1; b=2\r\n",
		"\r\nX-Forwarded-Proto: https\r\n", "\r\nX-Forwarded-For: 127.0.0.1\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("backend got head %q, want it to contain %q", head, want)
		}
	}
	if strings.Contains(head, "Transfer-Encoding") || strings.Contains(head, "X-Test") {
		t.Errorf("backend got head %q: not the fast path's", head)
	}
}

// A backend that fails answers 502 on its stream only; the connection's other streams are
// served.
func TestServer_HTTP2BackendErrorOnlyThatStream(t *testing.T) {
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadURL := "http://" + dead.Addr().String()
	dead.Close()
	be := newRawBackend(t)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{
		route("app", "app.test", be.url()), route("dead", "dead.test", deadURL)}})
	h := dialH2(t, s.HTTPSAddr())
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, EndHeaders: true,
		BlockFragment: h.block(":method", "GET", ":scheme", "https", ":path", "/", ":authority", "dead.test")})
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndStream: true, EndHeaders: true, BlockFragment: h.get()})
	got := map[uint32]int{}
	for len(got) < 2 {
		f := h.until("an answer", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok }).(*http2.MetaHeadersFrame)
		got[f.StreamID], _ = strconv.Atoi(f.PseudoValue("status"))
	}
	if got[1] != http.StatusBadGateway || got[3] != http.StatusOK {
		t.Errorf("statuses %v, want stream 1: 502, stream 3: 200", got)
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, EndStream: true, EndHeaders: true, BlockFragment: h.get()})
	if status, code := h.answer(5); status != 200 {
		t.Errorf("next stream: %d, %v; want 200", status, code)
	}
}

// Request bodies (with content-length on the fast path, without one through net/http),
// chunked and streamed responses, HEAD and 204 come through whole over HTTP/2.
func TestServer_HTTP2Bodies(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/stream": // no length: chunked to the agent
			for i := range 3 {
				fmt.Fprintf(w, "part%d;", i)
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Header().Set("Content-Length", strconv.Itoa(len(b)+len(r.Method)+1))
			fmt.Fprintf(w, "%s %s", r.Method, b)
		}
	}))
	t.Cleanup(be.Close)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.URL)}})
	c := client(t, "app.test", true)
	big := strings.Repeat("0123456789", 30000) // over the stream window
	tests := []struct {
		name, method, path string
		body               io.Reader
		want               string
		status             int
	}{
		{"small body with length", "POST", "/", strings.NewReader("hello"), "POST hello", 200},
		{"large body with length", "PUT", "/", strings.NewReader(big), "PUT " + big, 200},
		{"body without length", "POST", "/", io.MultiReader(strings.NewReader("un"), strings.NewReader("known")), "POST unknown", 200},
		{"chunked response", "GET", "/stream", nil, "part0;part1;part2;", 200},
		{"HEAD", "HEAD", "/", nil, "", 200},
		{"204", "GET", "/empty", nil, "", 204},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A *strings.Reader body is sent with its length, the MultiReader without one.
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, "https://"+s.HTTPSAddr()+tt.path, tt.body)
			req.Host = "app.test"
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tt.status || string(b) != tt.want {
				t.Errorf("HTTP/%d %d %.40q (%d bytes), want HTTP/2 %d %.40q (%d bytes)", resp.ProtoMajor, resp.StatusCode, b, len(b), tt.status, tt.want, len(tt.want))
			}
		})
	}
}

// A client that resets a stream mid-body leaves the connection serving: the next stream on
// it is answered.
func TestServer_HTTP2ResetMidBody(t *testing.T) {
	be := newRawBackend(t)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	h := dialH2(t, s.HTTPSAddr())
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
		BlockFragment: h.block(":method", "POST", ":scheme", "https", ":path", "/", ":authority", "app.test", "content-length", "100")})
	h.fr.WriteData(1, false, make([]byte, 10))
	h.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndStream: true, EndHeaders: true, BlockFragment: h.get()})
	if status, code := h.answer(3); status != 200 {
		t.Errorf("next stream: %d, %v; want 200", status, code)
	}
}

// Many concurrent streams on one connection are each answered (lanes in parallel).
func TestServer_HTTP2ConcurrentStreams(t *testing.T) {
	be := newRawBackend(t)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	c := client(t, "app.test", true)
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(t.Context(), "GET", "https://"+s.HTTPSAddr()+"/", nil)
			req.Host = "app.test"
			resp, err := c.Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" || resp.ProtoMajor != 2 {
				errs <- fmt.Errorf("HTTP/%d %d %q", resp.ProtoMajor, resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// The hostile-request rules of HTTP/1.1 hold on HTTP/2: a body over the route's limit is
// refused 413 (by its content-length, or as it arrives without one), a field name with an
// underscore is not forwarded; the connection goes on serving.
func TestServer_HTTP2HostileBodiesAndFields(t *testing.T) {
	be := newRawBackend(t)
	rt := route("app", "app.test", be.url())
	rt.MaxBodyBytes = 10
	reader := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.ReadAll(r.Body) }))
	t.Cleanup(reader.Close)
	rr := route("reader", "reader.test", reader.URL)
	rr.MaxBodyBytes = 10
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{rt, rr}})
	h := dialH2(t, s.HTTPSAddr())
	post := func(id uint32, host string, fields ...string) {
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndHeaders: true,
			BlockFragment: h.block(append([]string{":method", "POST", ":scheme", "https", ":path", "/", ":authority", host}, fields...)...)})
		h.fr.WriteData(id, true, make([]byte, 100))
	}
	post(1, "app.test", "content-length", "100")
	if status, code := h.answer(1); status != http.StatusRequestEntityTooLarge {
		t.Errorf("body with length over the limit: %d, %v; want 413", status, code)
	}
	post(3, "reader.test") // no content-length: net/http stops reading it at the limit
	if status, code := h.answer(3); status != http.StatusRequestEntityTooLarge {
		t.Errorf("body without length over the limit: %d, %v; want 413", status, code)
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, EndStream: true, EndHeaders: true, BlockFragment: h.get("x_bad", "1", "x-good", "1")})
	if status, code := h.answer(5); status != 200 {
		t.Fatalf("next stream: %d, %v; want 200", status, code)
	}
	if head := be.last(); strings.Contains(head, "x_bad") || !strings.Contains(head, "x-good: 1") {
		t.Errorf("backend got head %q, want x-good and no x_bad", head)
	}
}

// Multiplexed load (h2load, when installed: 4 connections, 10 streams each at a time) is
// answered 200 on every request, each body whole.
func TestServer_HTTP2MultiplexedLoad(t *testing.T) {
	bin, err := exec.LookPath("h2load")
	if err != nil {
		t.Skip("h2load is not installed (Debian's nghttp2-client; bench/peers/run.sh installs it)")
	}
	be := newRawBackend(t)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	_, port, _ := net.SplitHostPort(s.HTTPSAddr())
	out, err := exec.CommandContext(t.Context(), bin, "-n", "4000", "-c", "4", "-m", "10",
		"--connect-to", "127.0.0.1:"+port, "https://app.test:"+port+"/").CombinedOutput()
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	for _, want := range []string{"4000 succeeded, 0 failed, 0 errored", "status codes: 4000 2xx"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("h2load output lacks %q:\n%s", want, out)
		}
	}
}

// Requests the fast path hands to net/http are answered on their stream and the connection
// goes on: Expect: 100-continue (the interim response is not relayed), OPTIONS *, CONNECT.
func TestServer_HTTP2HandedOverRequests(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, b)
	}))
	t.Cleanup(be.Close)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.URL)}})
	h := dialH2(t, s.HTTPSAddr())
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true, BlockFragment: h.block(":method", "POST", ":scheme", "https",
		":path", "/", ":authority", "app.test", "expect", "100-continue", "content-length", "5")})
	h.fr.WriteData(1, true, []byte("hello"))
	if status, code := h.answer(1); status != 200 {
		t.Fatalf("Expect: 100-continue: %d, %v; want 200", status, code)
	}
	d := h.until("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
	if string(d.Data()) != "POST hello" {
		t.Errorf("body %q, want %q", d.Data(), "POST hello")
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndStream: true, EndHeaders: true,
		BlockFragment: h.block(":method", "OPTIONS", ":scheme", "https", ":path", "*", ":authority", "app.test")})
	if status, code := h.answer(3); status == 0 {
		t.Errorf("OPTIONS *: RST_STREAM %v, want an answer", code)
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, EndStream: true, EndHeaders: true,
		BlockFragment: h.block(":method", "CONNECT", ":authority", "app.test:443")})
	if status, code := h.answer(5); status == 0 {
		t.Errorf("CONNECT: RST_STREAM %v, want an answer", code)
	} else {
		t.Logf("CONNECT answered %d", status)
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 7, EndStream: true, EndHeaders: true, BlockFragment: h.get()})
	if status, code := h.answer(7); status != 200 {
		t.Errorf("next stream: %d, %v; want 200", status, code)
	}
}

// A header list over the limit (--max-header-bytes, SETTINGS_MAX_HEADER_LIST_SIZE) is
// answered 431 on its stream.
func TestServer_HTTP2HeaderListTooLarge(t *testing.T) {
	be := newRawBackend(t)
	s := startLimits(t, proxy.Limits{MaxHeaderBytes: 2000}, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	h := dialH2(t, s.HTTPSAddr())
	var fields []string
	for i := range 20 {
		fields = append(fields, "x-f"+strconv.Itoa(i), strings.Repeat("v", 150))
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndStream: true, EndHeaders: true, BlockFragment: h.get(fields...)})
	if status, code := h.answer(1); status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("got %d, %v; want 431", status, code)
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, EndStream: true, EndHeaders: true, BlockFragment: h.get()})
	if status, code := h.answer(3); status != 200 {
		t.Errorf("next stream: %d, %v; want 200", status, code)
	}
}

// Streams opened and reset at once, many of them (the "rapid reset" pattern), leave the
// connection serving.
func TestServer_HTTP2RapidReset(t *testing.T) {
	be := newRawBackend(t)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	h := dialH2(t, s.HTTPSAddr())
	id := uint32(1)
	for range 1000 {
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true, BlockFragment: h.get()})
		h.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
	}
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true, BlockFragment: h.get()})
	if status, code := h.answer(id); status != 200 {
		t.Errorf("stream after 1000 resets: %d, %v; want 200", status, code)
	}
}

// A response head is converted the same whether it comes in one write (read in place, not
// modified) or split anywhere over two (gathered first).
func TestLane_ResponseHeadSplitAnywhere(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Trace-Id: ab\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok")
	convert := func(parts ...[]byte) (block, data []byte) {
		l := &lane{}
		for _, p := range parts {
			for len(p) > 0 && l.wstate != wDone {
				var err error
				if p, err = l.parse(p); err != nil {
					t.Fatalf("parse: %v", err)
				}
			}
		}
		if l.wstate != wDone {
			t.Fatalf("state %d after the whole response, want done", l.wstate)
		}
		return l.block, l.data
	}
	in := bytes.Clone(resp)
	wantBlock, wantData := convert(in)
	if string(wantData) != "ok" {
		t.Fatalf("body %q, want ok", wantData)
	}
	if !bytes.Equal(in, resp) {
		t.Errorf("the write's bytes were changed to %q", in) // io.Writer: Write must not modify p
	}
	for i := 1; i < len(resp); i++ {
		block, data := convert(bytes.Clone(resp[:i]), bytes.Clone(resp[i:]))
		if !bytes.Equal(block, wantBlock) || !bytes.Equal(data, wantData) {
			t.Errorf("split at %d: block %x body %q, want %x %q", i, block, data, wantBlock, wantData)
		}
	}
}

// A read waiting for a lane's next stream returns once a read deadline in the past is set.
func TestLane_PastDeadlineWakesWaitForNextStream(t *testing.T) {
	l := &lane{d: &lanes{}, next: make(chan *h2conn.Stream, 1), intr: make(chan struct{}, 1)}
	errc := make(chan error, 1)
	go func() {
		_, err := l.Read(make([]byte, 16))
		errc <- err
	}()
	l.SetReadDeadline(time.Unix(1, 0))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Read: %v, want %v", err, os.ErrDeadlineExceeded)
	}
}
