package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 10, rows 7 and 8: every size, count and duration a client controls is bounded,
// the same way on both paths.

func TestLimits_SizesAndCountsRefused(t *testing.T) {
	rec := newRecorder(t)
	small := route("small", "small.test", rec.URL)
	small.MaxBodyBytes = 10
	lim := Limits{MaxHeaderBytes: 8 << 10, MaxHeaderCount: 20, MaxTargetBytes: 1 << 10, MaxBodyBytes: 1000}
	p := newProxy(t, Config{Limits: lim}, route("r", "r.test", rec.URL), small)
	post := func(host, hdr, body string) string {
		return "POST / HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n" + hdr + "\r\n" + body
	}
	chunked := func(host string, n int, ext string) string {
		return post(host, "Transfer-Encoding: chunked\r\n", strconv.FormatInt(int64(n), 16)+ext+"\r\n"+strings.Repeat("b", n)+"\r\n0\r\n\r\n")
	}
	length := func(host string, n int) string {
		return post(host, "Content-Length: "+strconv.Itoa(n)+"\r\n", strings.Repeat("b", n))
	}
	tests := []struct {
		name, raw string
		status    int
	}{
		{"header bytes", getRaw("r.test", "/", "X-Big: "+strings.Repeat("a", 9<<10)+"\r\n"), http.StatusRequestHeaderFieldsTooLarge},
		{"header count", getRaw("r.test", "/", strings.Repeat("X-N: 1\r\n", 20)), http.StatusRequestHeaderFieldsTooLarge},
		{"target length", getRaw("r.test", "/"+strings.Repeat("a", 1<<10)), http.StatusRequestURITooLong},
		{"body over the agent's limit", length("r.test", 1001), http.StatusRequestEntityTooLarge},
		{"body over the route's limit", length("small.test", 11), http.StatusRequestEntityTooLarge},
		{"chunked body over the route's limit", chunked("small.test", 11, ""), http.StatusRequestEntityTooLarge},
		{"chunked body over the agent's limit", chunked("r.test", 1001, ""), http.StatusRequestEntityTooLarge},
		{"chunk extension over 4 KiB", chunked("r.test", 5, ";e="+strings.Repeat("x", 5<<10)), http.StatusBadRequest},
		// At the limits: served.
		{"header count at the limit", getRaw("r.test", "/", strings.Repeat("X-N: 1\r\n", 18)), 200},
		{"body at the route's limit", length("small.test", 10), 200},
		{"chunked body at the route's limit", chunked("small.test", 10, ";e=1"), 200},
		{"target at the limit", getRaw("r.test", "/"+strings.Repeat("a", 1<<10-1)), 200},
	}
	for mode, addr := range rawFronts(t, p) {
		for _, tt := range tests {
			rs := rawExchange(t, addr, tt.raw)
			if len(rs) != 1 || rs[0].status != tt.status {
				t.Errorf("%s: %s: got %v, want one %d", mode, tt.name, statuses(rs), tt.status)
			}
		}
	}
}

// A body arriving slower than the body timeout allows is cut, and its connection closed.
func TestLimits_SlowBodyCutAtBodyTimeout(t *testing.T) {
	rec := newRecorder(t)
	p := newProxy(t, Config{Limits: Limits{BodyTimeout: 200 * time.Millisecond}}, route("r", "r.test", rec.URL))
	for mode, addr := range rawFronts(t, p) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		io.WriteString(c, "POST / HTTP/1.1\r\nHost: r.test\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("b", 10))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c) // until the proxy closes the connection
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: a stalled body held the connection %v, want it closed after the 200ms body timeout", mode, d)
		}
	}
}

// A client that stops reading a large response is cut at the write timeout, releasing
// the backend.
func TestLimits_NonReadingClientCutAtWriteTimeout(t *testing.T) {
	done := make(chan error, 2)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("z", 64<<10))
		var err error
		for i := 0; i < 1000 && err == nil; i++ { // 64 MB: more than any socket buffers
			_, err = w.Write(chunk)
		}
		done <- err
	}))
	t.Cleanup(be.Close)
	p := newProxy(t, Config{Limits: Limits{WriteTimeout: 300 * time.Millisecond}}, route("r", "r.test", be.URL))
	for mode, addr := range rawFronts(t, p) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		io.WriteString(c, getRaw("r.test", "/"))
		select { // the client never reads
		case err := <-done:
			if err == nil {
				t.Errorf("%s: the backend wrote 64 MB to a client that reads nothing, want the proxy to give up", mode)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: the backend is still writing 20s later, want the exchange cut at the 300ms write timeout", mode)
		}
	}
}

// The write timeout bounds each write; it does not linger on an idle keep-alive
// connection and cut what net/http writes for the next request (100 Continue here).
func TestLimits_WriteTimeoutDoesNotOutliveTheResponse(t *testing.T) {
	rec := newRecorder(t)
	p := newProxy(t, Config{Limits: Limits{WriteTimeout: 200 * time.Millisecond}}, route("r", "r.test", rec.URL))
	for mode, addr := range rawFronts(t, p) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		chunked := "POST /a HTTP/1.1\r\nHost: r.test\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n"
		io.WriteString(c, chunked)
		br := bufio.NewReader(c)
		if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: first request: %v", mode, err)
		} else {
			io.Copy(io.Discard, resp.Body)
		}
		time.Sleep(400 * time.Millisecond) // idle for longer than the write timeout: the subject of the test
		io.WriteString(c, "POST /b HTTP/1.1\r\nHost: r.test\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != http.StatusContinue {
			t.Fatalf("%s: after an idle spell: got %v, %v; want 100 Continue", mode, resp, err)
		}
		io.WriteString(c, "b")
		// Any number of 1xx may precede the final answer (RFC 9110 15.2): on the net/http
		// path the backend's own 100 Continue can be relayed after the agent's.
		for resp, err = http.ReadResponse(br, nil); err == nil && resp.StatusCode == http.StatusContinue; {
			resp, err = http.ReadResponse(br, nil)
		}
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("%s: second request: got %v, %v; want 200", mode, resp, err)
		}
	}
}

// A keep-alive connection left idle is closed at the idle timeout.
func TestLimits_IdleConnectionClosedAtIdleTimeout(t *testing.T) {
	rec := newRecorder(t)
	p := newProxy(t, Config{Limits: Limits{IdleTimeout: 200 * time.Millisecond}}, route("r", "r.test", rec.URL))
	for mode, addr := range rawFronts(t, p) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: r.test\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: got %v, %v; want 200", mode, resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		if _, err := br.ReadByte(); err == nil || time.Since(start) > 5*time.Second {
			t.Errorf("%s: idle connection: read %v after %v, want it closed after the 200ms idle timeout", mode, err, time.Since(start))
		}
	}
}

// The write timeout counts from the write, not from when the agent began waiting for the
// backend: a backend slower than the write timeout, before its head or in the middle of its
// body, is relayed whole, and the connection serves the next request.
func TestLimits_WriteTimeoutCountsFromTheWrite(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		if r.URL.Path == "/head" {
			time.Sleep(400 * time.Millisecond)
		}
		io.WriteString(w, "01234")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/body" {
			time.Sleep(400 * time.Millisecond)
		}
		io.WriteString(w, "56789")
	}))
	t.Cleanup(be.Close)
	p := newProxy(t, Config{Limits: Limits{WriteTimeout: 100 * time.Millisecond}}, route("r", "r.test", be.URL))
	for mode, addr := range rawFronts(t, p) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		for _, path := range []string{"/head", "/body", "/"} {
			io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: r.test\r\n\r\n") // keep-alive
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("%s %s: %v", mode, path, err)
			}
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || string(body) != "0123456789" || err != nil {
				t.Fatalf("%s %s: %d %q %v; want 200 0123456789", mode, path, resp.StatusCode, body, err)
			}
		}
	}
}
