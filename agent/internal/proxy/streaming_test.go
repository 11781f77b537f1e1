package proxy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func route(name, host, url string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{host}, Targets: targets(url)}
}

func TestProxy_StreamsResponses(t *testing.T) {
	next := make(chan struct{})
	sse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: event %d\n\n", i)
			w.(http.Flusher).Flush()
			select {
			case <-next: // the client saw the event: only then send the next one
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(sse.Close)
	p := newProxy(t, Config{}, route("sse", "sse.test", sse.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, f.url+"/events", nil)
			req.Host = "sse.test"
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			for i := range 3 {
				line, err := br.ReadString('\n')
				if want := fmt.Sprintf("data: event %d\n", i); err != nil || line != want {
					t.Fatalf("read %q, %v; want %q (each event must arrive before the next is sent)", line, err, want)
				}
				br.ReadString('\n')
				next <- struct{}{}
			}
		})
	}
}

// A body of known length that the backend sends in pieces reaches the client piece by piece
// on both paths (the net/http path holds a piece at most flushDelay): the client reads the
// first half before the backend sends the second.
func TestProxy_StreamsKnownLengthResponses(t *testing.T) {
	next := make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		io.WriteString(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-next: // the client read the first half
			io.WriteString(w, "-rest")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(be.Close)
	p := newProxy(t, Config{}, route("kl", "kl.test", be.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second) // a held piece fails, not hangs
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/", nil)
			req.Host = "kl.test"
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			first := make([]byte, 5)
			if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "first" {
				t.Fatalf("read %q, %v; want the first half before the backend sends the rest", first, err)
			}
			next <- struct{}{}
			if rest, err := io.ReadAll(resp.Body); err != nil || string(rest) != "-rest" {
				t.Errorf("then read %q, %v; want \"-rest\"", rest, err)
			}
		})
	}
}

func TestProxy_StreamsRequestBodies(t *testing.T) {
	firstPart := make(chan string, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 5)
		io.ReadFull(r.Body, buf)
		firstPart <- string(buf) // the backend has the start before the client sent the rest
		rest, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s%s", buf, rest)
	}))
	t.Cleanup(be.Close)
	p := newProxy(t, Config{}, route("up", "up.test", be.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			pr, pw := io.Pipe()
			go func() {
				pw.Write([]byte("hello"))
				select {
				case <-firstPart:
				case <-time.After(5 * time.Second):
				}
				pw.Write([]byte(", world"))
				pw.Close()
			}()
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, f.url+"/upload", pr)
			req.Host, req.ContentLength = "up.test", 12 // a Content-Length: the fast path streams it
			resp, err := f.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "hello, world" {
				t.Errorf("backend got %q, want %q", body, "hello, world")
			}
		})
	}
}

func TestProxy_BodyFramings(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB
	sum := sha256.Sum256(big)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			w.Write(big)
		case "/chunked":
			w.Header().Set("Trailer", "X-Sum")
			for i := 0; i < len(big); i += 100000 {
				w.Write(big[i:min(i+100000, len(big))])
				w.(http.Flusher).Flush()
			}
			w.Header().Set("X-Sum", fmt.Sprintf("%x", sum))
		case "/eof":
			w.Header().Set("Connection", "close")
			w.(http.Flusher).Flush() // no Content-Length, not chunked: the body ends at close
			conn, brw, _ := http.NewResponseController(w).Hijack()
			brw.Flush()
			conn.Close()
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Write(b)
		default:
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "short")
		}
	}))
	t.Cleanup(be.Close)
	eof := rawBackend(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
	p := newProxy(t, Config{}, route("be", "be.test", be.URL), route("eof", "eof.test", eof))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			if _, body := get(t, f, "be.test", "/big"); sha256.Sum256([]byte(body)) != sum {
				t.Errorf("/big: %d bytes with another checksum", len(body))
			}
			resp, body := get(t, f, "be.test", "/chunked")
			if sha256.Sum256([]byte(body)) != sum || resp.Trailer.Get("X-Sum") != fmt.Sprintf("%x", sum) {
				t.Errorf("/chunked: %d bytes, trailer %q", len(body), resp.Trailer.Get("X-Sum"))
			}
			if resp, body := get(t, f, "eof.test", "/"); resp.StatusCode != 200 || body != "until the end" {
				t.Errorf("close-delimited: got %d %q", resp.StatusCode, body)
			}
			if resp, body := do(t, f, http.MethodHead, "be.test", "/", nil); resp.StatusCode != 200 || body != "" || resp.ContentLength != 5 {
				t.Errorf("HEAD: got %d %q length %d, want 200, no body, length 5", resp.StatusCode, body, resp.ContentLength)
			}
			if resp, _ := get(t, f, "be.test", "/nocontent"); resp.StatusCode != http.StatusNoContent {
				t.Errorf("/nocontent: got %d", resp.StatusCode)
			}
			if _, body := do(t, f, http.MethodPost, "be.test", "/echo", bytes.NewReader(big)); sha256.Sum256([]byte(body)) != sum {
				t.Errorf("POST 1 MiB: echoed %d bytes with another checksum", len(body))
			}
			chunkedBody := io.MultiReader(strings.NewReader("chunked "), strings.NewReader("request")) // no length: chunked
			if _, body := do(t, f, http.MethodPost, "be.test", "/echo", chunkedBody); body != "chunked request" {
				t.Errorf("chunked POST: echoed %q", body)
			}
			if resp, body := get(t, f, "be.test", "/short"); body != "short" || resp.StatusCode != 200 {
				t.Errorf("after the rest: got %d %q", resp.StatusCode, body)
			}
		})
	}
}

// rawBackend answers every connection with response, then closes it.
func rawBackend(t testing.TB, response string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				io.WriteString(c, response)
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

func TestProxy_ClientGoneCancelsUpstream(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	started := make(chan struct{}, 1)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		started <- struct{}{}
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(10 * time.Second):
		}
	}))
	t.Cleanup(be.Close)
	p := newProxy(t, Config{}, route("slow", "slow.test", be.URL))
	for mode, f := range paths(t, p) {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/", nil)
			req.Host = "slow.test"
			errc := make(chan error, 1)
			go func() {
				_, err := f.client.Do(req)
				errc <- err
			}()
			<-started
			cancel()
			<-errc
			select {
			case <-cancelled:
			case <-time.After(5 * time.Second):
				t.Fatal("the backend's request was not cancelled when the client went away")
			}
		})
	}
}
