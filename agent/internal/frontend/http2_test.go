package frontend

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// h2client is a raw HTTP/2 client connection to the agent over TLS.
type h2client struct {
	t   testing.TB
	c   *tls.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	buf bytes.Buffer
}

// startH2 runs the agent with one route to a backend answering "hello from the backend".
func startH2(t *testing.T) string {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello from the backend")
	}))
	t.Cleanup(be.Close)
	return start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.URL)}}).HTTPSAddr()
}

// dialH2 opens a connection, sends the preface and settings, and reads the agent's settings.
func dialH2(t testing.TB, addr string, settings ...http2.Setting) *h2client {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "app.test", InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second)) // bounds a test that would hang, synchronises nothing
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		t.Fatalf("ALPN %q, want h2", c.ConnectionState().NegotiatedProtocol)
	}
	h := &h2client{t: t, c: c, fr: http2.NewFramer(c, c)}
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.enc = hpack.NewEncoder(&h.buf)
	io.WriteString(c, http2.ClientPreface)
	h.fr.WriteSettings(settings...)
	f := h.read()
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("first frame %v, want the agent's SETTINGS", f)
	}
	h.fr.WriteSettingsAck()
	return h
}

// block HPACK-encodes fields (name, value pairs; incremental indexing, so later blocks
// refer to the dynamic table).
func (h *h2client) block(fields ...string) []byte {
	h.buf.Reset()
	for i := 0; i < len(fields); i += 2 {
		h.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(h.buf.Bytes())
}

// get is a GET's header block with extra fields.
func (h *h2client) get(extra ...string) []byte {
	return h.block(append([]string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "app.test"}, extra...)...)
}

func (h *h2client) read() http2.Frame {
	h.t.Helper()
	f, err := h.fr.ReadFrame()
	if err != nil {
		h.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// until reads frames until one for which match returns true; it fails at the end of the
// connection.
func (h *h2client) until(what string, match func(http2.Frame) bool) http2.Frame {
	h.t.Helper()
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// answer reads stream's outcome: its :status, or the RST_STREAM code (status 0).
func (h *h2client) answer(stream uint32) (int, http2.ErrCode) {
	h.t.Helper()
	switch f := h.until("an answer", func(f http2.Frame) bool {
		_, rst := f.(*http2.RSTStreamFrame)
		_, hdr := f.(*http2.MetaHeadersFrame)
		_, away := f.(*http2.GoAwayFrame)
		return (rst || hdr) && f.Header().StreamID == stream || away
	}).(type) {
	case *http2.RSTStreamFrame:
		return 0, f.ErrCode
	case *http2.MetaHeadersFrame:
		var status int
		for _, c := range f.PseudoValue("status") {
			status = status*10 + int(c-'0')
		}
		return status, 0
	case *http2.GoAwayFrame:
		h.t.Fatalf("GOAWAY %v on stream %d, want a stream answer", f.ErrCode, stream)
	}
	return 0, 0
}

// A request with a connection-specific header field or a TE other than "trailers" is
// malformed (RFC 9113 8.2.2): RST_STREAM PROTOCOL_ERROR, and the connection (and its HPACK
// state) stays usable for the next request.
func TestServer_HTTP2MalformedHeadersResetStream(t *testing.T) {
	addr := startH2(t)
	tests := []struct {
		name   string
		fields []string
		code   http2.ErrCode // 0: served
	}{
		{"connection", []string{"connection", "keep-alive"}, http2.ErrCodeProtocol},
		{"keep-alive", []string{"keep-alive", "timeout=5"}, http2.ErrCodeProtocol},
		{"proxy-connection", []string{"proxy-connection", "close"}, http2.ErrCodeProtocol},
		{"transfer-encoding", []string{"transfer-encoding", "chunked"}, http2.ErrCodeProtocol},
		{"upgrade", []string{"upgrade", "websocket"}, http2.ErrCodeProtocol},
		{"te gzip", []string{"te", "gzip"}, http2.ErrCodeProtocol},
		{"te trailers, gzip", []string{"te", "trailers, gzip"}, http2.ErrCodeProtocol},
		{"te trailers", []string{"te", "trailers"}, 0},
		{"ordinary field", []string{"x-connection", "close"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := dialH2(t, addr)
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.get(tt.fields...), EndStream: true, EndHeaders: true})
			status, code := h.answer(1)
			if tt.code != 0 && code != tt.code || tt.code == 0 && status != 200 {
				t.Fatalf("got status %d, RST_STREAM %v; want RST_STREAM %v (0: status 200)", status, code, tt.code)
			}
			// The same fields again (now from the dynamic table), then a clean request.
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: h.get(tt.fields...), EndStream: true, EndHeaders: true})
			if status2, code2 := h.answer(3); status2 != status || code2 != code {
				t.Errorf("repeated from the HPACK table: got %d, %v; want %d, %v", status2, code2, status, code)
			}
			h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: h.get(), EndStream: true, EndHeaders: true})
			if status, code := h.answer(5); status != 200 {
				t.Errorf("next request on the connection: got %d, %v; want 200", status, code)
			}
		})
	}
}

// The field may sit in a CONTINUATION frame, after padding and priority, or in trailers.
func TestServer_HTTP2MalformedHeadersFramings(t *testing.T) {
	addr := startH2(t)
	t.Run("in a CONTINUATION after a padded HEADERS with priority", func(t *testing.T) {
		h := dialH2(t, addr)
		b := h.get("connection", "close")
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:3], EndStream: true, PadLength: 7,
			Priority: http2.PriorityParam{Weight: 15}})
		h.fr.WriteContinuation(1, false, b[3:len(b)-2])
		h.fr.WriteContinuation(1, true, b[len(b)-2:])
		if status, code := h.answer(1); code != http2.ErrCodeProtocol {
			t.Fatalf("got %d, %v; want RST_STREAM PROTOCOL_ERROR", status, code)
		}
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: h.get(), EndStream: true, EndHeaders: true})
		if status, code := h.answer(3); status != 200 {
			t.Errorf("next request: got %d, %v; want 200", status, code)
		}
	})
	t.Run("in trailers", func(t *testing.T) {
		h := dialH2(t, addr)
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, EndHeaders: true,
			BlockFragment: h.block(":method", "POST", ":scheme", "https", ":path", "/", ":authority", "app.test")})
		h.fr.WriteData(1, false, []byte("body"))
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.block("transfer-encoding", "chunked"), EndStream: true, EndHeaders: true})
		h.until("RST_STREAM PROTOCOL_ERROR on stream 1", func(f http2.Frame) bool {
			rst, ok := f.(*http2.RSTStreamFrame)
			return ok && rst.StreamID == 1 && rst.ErrCode == http2.ErrCodeProtocol
		})
	})
}

// A HEADERS frame larger than the advertised SETTINGS_MAX_FRAME_SIZE (16 KiB) is the
// connection error FRAME_SIZE_ERROR (RFC 9113 4.2).
func TestServer_HTTP2OversizedHeadersFrame(t *testing.T) {
	h := dialH2(t, startH2(t))
	big := h.get("x-big", strings.Repeat("a", 30000))
	if len(big) <= 16384 {
		t.Fatalf("header block %d bytes, want more than 16384", len(big))
	}
	h.fr.SetMaxReadFrameSize(1 << 20)
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: big, EndStream: true, EndHeaders: true})
	f := h.until("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
	if f.ErrCode != http2.ErrCodeFrameSize {
		t.Errorf("GOAWAY %v, want FRAME_SIZE_ERROR", f.ErrCode)
	}
	// Frames already in flight (a SETTINGS ACK, a second GOAWAY) may follow; no answer to
	// stream 1 may, and the connection must then close.
	for range 16 {
		f, err := h.fr.ReadFrame()
		if err != nil {
			if !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
				t.Errorf("after GOAWAY: %v, want the connection closed", err)
			}
			return
		}
		if f.Header().StreamID != 0 {
			t.Fatalf("after GOAWAY: got %v, want no frame on a stream", f)
		}
	}
	t.Errorf("after GOAWAY: the connection stayed open for 16 frames, want it closed")
}

// SETTINGS values are processed in order (RFC 9113 6.5.3): a repeated parameter is
// acknowledged and its last value holds; an invalid value among repeats is still refused.
func TestServer_HTTP2RepeatedSettings(t *testing.T) {
	addr := startH2(t)
	t.Run("last value holds", func(t *testing.T) {
		h := dialH2(t, addr)
		h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		h.until("SETTINGS ACK", func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.get(), EndStream: true, EndHeaders: true})
		d := h.until("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
		if len(d.Data()) != 1 {
			t.Errorf("first DATA %d bytes, want 1 (INITIAL_WINDOW_SIZE 1)", len(d.Data()))
		}
	})
	t.Run("invalid value refused", func(t *testing.T) {
		h := dialH2(t, addr)
		h.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31},
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		f := h.until("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
		if f.ErrCode != http2.ErrCodeFlowControl {
			t.Errorf("GOAWAY %v, want FLOW_CONTROL_ERROR", f.ErrCode)
		}
	})
}

// A TLS 1.2 connection that negotiated h2 with a CBC cipher suite is refused (RFC 9113 9.2.2),
// as Go's HTTP/2 server refuses it on a *tls.Conn.
func TestServer_HTTP2RefusesCBCCipher(t *testing.T) {
	addr := startH2(t)
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "app.test", InsecureSkipVerify: true, NextProtos: []string{"h2"},
		MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	if n, err := c.Read(make([]byte, 1)); err == nil {
		t.Errorf("read %d bytes, want the connection closed", n)
	}
}

// Shutdown sends GOAWAY on HTTP/2 connections, lets their requests in flight finish and
// returns once they have.
func TestServer_HTTP2ShutdownDrains(t *testing.T) {
	release, arrived := make(chan struct{}), make(chan struct{})
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-release
		io.WriteString(w, "late")
	}))
	t.Cleanup(be.Close)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.URL)}})
	h := dialH2(t, s.HTTPSAddr())
	h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: h.get(), EndStream: true, EndHeaders: true})
	<-arrived
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	h.until("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	close(release)
	if status, code := h.answer(1); status != 200 {
		t.Errorf("in-flight request: got %d, %v; want 200", status, code)
	}
	d := h.until("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
	if string(d.Data()) != "late" {
		t.Errorf("body %q, want %q", d.Data(), "late")
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown() = %v, want nil (drained before the deadline)", err)
	}
}
