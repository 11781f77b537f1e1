package h2conn

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// handlerFunc dispatches each stream to its own goroutine running f.
type handlerFunc func(s *Stream)

func (f handlerFunc) Dispatch(s *Stream) bool { go f(s); return true }

// client is a raw HTTP/2 client on a connection served by Conn.
type client struct {
	t    *testing.T
	nc   net.Conn
	fr   *http2.Framer
	enc  *hpack.Encoder
	buf  bytes.Buffer
	conn *Conn
}

// serve starts a Conn with cfg and h on a loopback connection and returns a client that has
// exchanged the preface and SETTINGS (settings are the client's).
func serve(t *testing.T, cfg Config, h Dispatcher, settings ...http2.Setting) *client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	sc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	conn := New(sc, cfg, h)
	served := make(chan struct{})
	go func() { conn.Serve(); close(served) }()
	t.Cleanup(func() { cc.Close(); conn.Close(); <-served })
	cc.SetDeadline(time.Now().Add(10 * time.Second)) // bounds a test that would hang
	c := &client{t: t, nc: cc, fr: http2.NewFramer(cc, cc), conn: conn}
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.enc = hpack.NewEncoder(&c.buf)
	io.WriteString(cc, http2.ClientPreface)
	c.fr.WriteSettings(settings...)
	if f, ok := c.read().(*http2.SettingsFrame); !ok || f.IsAck() {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	c.fr.WriteSettingsAck()
	return c
}

func (c *client) read() http2.Frame {
	c.t.Helper()
	f, err := c.fr.ReadFrame()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	return f
}

// until reads frames until match returns true.
func (c *client) until(what string, match func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.t.Fatalf("waiting for %s: %v", what, err)
		}
		if match(f) {
			return f
		}
	}
}

// noDataBeforePingAck checks that the server, its flow-control window spent, sends no more
// DATA: the ACK of a PING sent now (payload id) arrives before any.
func (c *client) noDataBeforePingAck(id byte) {
	c.t.Helper()
	c.fr.WritePing(false, [8]byte{id})
	c.until("PING ACK", func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && len(d.Data()) > 0 {
			c.t.Fatalf("DATA beyond the window: %d bytes", len(d.Data()))
		}
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck()
	})
}

func (c *client) request(id uint32, end bool, fields ...string) {
	c.buf.Reset()
	all := append([]string{":method", "POST", ":scheme", "https", ":path", "/", ":authority", "a.test"}, fields...)
	for i := 0; i < len(all); i += 2 {
		c.enc.WriteField(hpack.HeaderField{Name: all[i], Value: all[i+1]})
	}
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.buf.Bytes(), EndStream: end, EndHeaders: true})
}

// rst waits for RST_STREAM on id and returns its code.
func (c *client) rst(id uint32) http2.ErrCode {
	c.t.Helper()
	return c.until("RST_STREAM", func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == id
	}).(*http2.RSTStreamFrame).ErrCode
}

func (c *client) goAway() *http2.GoAwayFrame {
	c.t.Helper()
	return c.until("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
}

// body reads stream id's response: status, then DATA until END_STREAM.
func (c *client) response(id uint32) (int, string) {
	c.t.Helper()
	var status int
	var body strings.Builder
	for {
		switch f := c.read().(type) {
		case *http2.MetaHeadersFrame:
			if f.StreamID == id && status == 0 {
				status, _ = strconv.Atoi(f.PseudoValue("status"))
			}
			if f.StreamID == id && f.StreamEnded() {
				return status, body.String()
			}
		case *http2.DataFrame:
			if f.StreamID == id {
				body.Write(f.Data())
				if f.StreamEnded() {
					return status, body.String()
				}
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == id {
				c.t.Fatalf("stream %d reset: %v", id, f.ErrCode)
			}
		case *http2.GoAwayFrame:
			c.t.Fatalf("GOAWAY %v while waiting for stream %d", f.ErrCode, id)
		}
	}
}

// respond answers s with status 200 and body.
func respond(s *Stream, body []byte) error {
	b := AppendStatus(AppendBlockStart(nil), 200)
	b = AppendField(b, "content-length", strconv.Itoa(len(body)))
	if err := s.WriteHeaders(b, len(body) == 0); err != nil {
		return err
	}
	if len(body) > 0 {
		if err := s.WriteData(body, true); err != nil {
			return err
		}
	}
	return s.Flush()
}

// echo answers with the number of request body bytes read.
var echo = handlerFunc(func(s *Stream) {
	n, _ := io.Copy(io.Discard, reader{s})
	respond(s, []byte(strconv.FormatInt(n, 10)))
})

type reader struct{ s *Stream }

func (r reader) Read(p []byte) (int, error) { return r.s.ReadBody(p, nil) }

// A response waits for the client's stream window: with INITIAL_WINDOW_SIZE 10 the first 10
// bytes come, the rest only after a WINDOW_UPDATE.
func TestConn_ResponseWaitsForWindow(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 100)
	c := serve(t, Config{}, handlerFunc(func(s *Stream) { respond(s, body) }), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	c.request(1, true)
	got := 0
	for got < 10 {
		if d, ok := c.read().(*http2.DataFrame); ok {
			got += len(d.Data())
		}
	}
	if got != 10 {
		t.Fatalf("got %d bytes before a window update, want 10", got)
	}
	c.noDataBeforePingAck(1)
	c.fr.WriteWindowUpdate(1, 90)
	for got < 100 {
		if d, ok := c.read().(*http2.DataFrame); ok {
			got += len(d.Data())
			if d.StreamEnded() && got != 100 {
				t.Fatalf("stream ended after %d bytes, want 100", got)
			}
		}
	}
}

// A client that sends more DATA than the stream's window gets RST_STREAM FLOW_CONTROL_ERROR;
// the connection stays usable.
func TestConn_ClientOverrunsStreamWindow(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	c := serve(t, Config{}, handlerFunc(func(s *Stream) {
		if s.ID == 1 {
			<-block // never reads: the window is not returned
			return
		}
		echo(s)
	}))
	c.request(1, false, "content-length", "100000")
	chunk := make([]byte, 16384)
	for range 4 { // 65536 > 65535
		c.fr.WriteData(1, false, chunk)
	}
	if code := c.rst(1); code != http2.ErrCodeFlowControl {
		t.Fatalf("RST_STREAM %v, want FLOW_CONTROL_ERROR", code)
	}
	c.request(3, true)
	if status, body := c.response(3); status != 200 || body != "0" {
		t.Errorf("next stream: %d %q, want 200 \"0\"", status, body)
	}
}

// A body larger than the windows arrives whole when the client sends within the windows
// the server returns as it reads.
func TestConn_BodyReturnsWindows(t *testing.T) {
	c := serve(t, Config{ConnWindow: 100000}, echo)
	const size = 300000
	c.request(1, false, "content-length", strconv.Itoa(size))
	connWin, streamWin := 100000, 65535
	chunk := make([]byte, 16384)
	for sent := 0; sent < size; {
		n := min(len(chunk), size-sent, connWin, streamWin)
		if n == 0 {
			f := c.until("WINDOW_UPDATE", func(f http2.Frame) bool { _, ok := f.(*http2.WindowUpdateFrame); return ok }).(*http2.WindowUpdateFrame)
			if f.StreamID == 0 {
				connWin += int(f.Increment)
			} else {
				streamWin += int(f.Increment)
			}
			continue
		}
		c.fr.WriteData(1, sent+n == size, chunk[:n])
		sent += n
		connWin -= n
		streamWin -= n
	}
	if status, body := c.response(1); status != 200 || body != strconv.Itoa(size) {
		t.Fatalf("got %d %q, want 200 %q", status, body, strconv.Itoa(size))
	}
}

// A DATA frame over SETTINGS_MAX_FRAME_SIZE is the connection error FRAME_SIZE_ERROR.
func TestConn_OversizedFrame(t *testing.T) {
	c := serve(t, Config{}, echo)
	c.request(1, false, "content-length", "20000")
	c.fr.WriteData(1, true, make([]byte, 20000))
	if f := c.goAway(); f.ErrCode != http2.ErrCodeFrameSize {
		t.Fatalf("GOAWAY %v, want FRAME_SIZE_ERROR", f.ErrCode)
	}
}

// A stream over SETTINGS_MAX_CONCURRENT_STREAMS is refused with RST_STREAM; the others are
// served.
func TestConn_ConcurrentStreamLimit(t *testing.T) {
	c := serve(t, Config{MaxConcurrentStreams: 2}, echo)
	c.until("SETTINGS ACK", func(f http2.Frame) bool { s, ok := f.(*http2.SettingsFrame); return ok && s.IsAck() })
	c.request(1, false)
	c.request(3, false)
	c.request(5, false)
	if code := c.rst(5); code != http2.ErrCodeProtocol {
		t.Fatalf("third stream: RST_STREAM %v, want PROTOCOL_ERROR", code)
	}
	c.fr.WriteData(1, true, []byte("ab"))
	if status, body := c.response(1); status != 200 || body != "2" {
		t.Errorf("stream 1: %d %q", status, body)
	}
	c.fr.WriteData(3, true, []byte("abc")) // (response skips other streams' frames)
	if status, body := c.response(3); status != 200 || body != "3" {
		t.Errorf("stream 3: %d %q", status, body)
	}
}

// A client that resets a stream mid-body fails the server's body read with ErrReset; the
// connection stays usable.
func TestConn_ResetMidBody(t *testing.T) {
	errs := make(chan error, 1)
	c := serve(t, Config{}, handlerFunc(func(s *Stream) {
		if s.ID != 1 {
			echo(s)
			return
		}
		_, err := io.Copy(io.Discard, reader{s})
		errs <- err
	}))
	c.request(1, false, "content-length", "100")
	c.fr.WriteData(1, false, make([]byte, 10))
	c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	if err := <-errs; !errors.Is(err, ErrReset) {
		t.Fatalf("body read: %v, want ErrReset", err)
	}
	c.request(3, true)
	if status, _ := c.response(3); status != 200 {
		t.Errorf("next stream: %d, want 200", status)
	}
}

// DATA that does not add up to content-length is malformed: RST_STREAM PROTOCOL_ERROR.
func TestConn_ContentLengthMismatch(t *testing.T) {
	c := serve(t, Config{}, echo)
	c.request(1, false, "content-length", "5")
	c.fr.WriteData(1, true, []byte("abc"))
	if code := c.rst(1); code != http2.ErrCodeProtocol {
		t.Fatalf("RST_STREAM %v, want PROTOCOL_ERROR", code)
	}
	c.request(3, false, "content-length", "2")
	c.fr.WriteData(3, false, []byte("abc"))
	if code := c.rst(3); code != http2.ErrCodeProtocol {
		t.Fatalf("more than content-length: RST_STREAM %v, want PROTOCOL_ERROR", code)
	}
}

// Drain sends GOAWAY NO_ERROR naming the last stream, ignores newer streams, lets the open
// one finish and then closes the connection.
func TestConn_DrainFinishesOpenStreams(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	arrived := make(chan struct{})
	c := serve(t, Config{}, handlerFunc(func(s *Stream) {
		once.Do(func() { close(arrived) })
		<-release
		respond(s, []byte("late"))
	}))
	c.request(1, true)
	<-arrived
	go c.conn.Drain()
	f := c.goAway()
	if f.ErrCode != http2.ErrCodeNo || f.LastStreamID != 1 {
		t.Fatalf("GOAWAY %v last %d, want NO_ERROR last 1", f.ErrCode, f.LastStreamID)
	}
	c.request(3, true) // after the GOAWAY's last stream: ignored
	close(release)
	if status, body := c.response(1); status != 200 || body != "late" {
		t.Fatalf("open stream: %d %q, want 200 \"late\"", status, body)
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			break // closed
		}
		if f.Header().StreamID == 3 {
			t.Fatalf("stream 3 served after GOAWAY: %v", f)
		}
	}
	select {
	case <-c.conn.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection not closed after draining")
	}
}

// A connection without streams closes after IdleTimeout with GOAWAY NO_ERROR.
func TestConn_IdleTimeout(t *testing.T) {
	c := serve(t, Config{IdleTimeout: 100 * time.Millisecond}, echo)
	if f := c.goAway(); f.ErrCode != http2.ErrCodeNo {
		t.Fatalf("GOAWAY %v, want NO_ERROR", f.ErrCode)
	}
}

// A header list over SETTINGS_MAX_HEADER_LIST_SIZE reaches the Dispatcher truncated.
func TestConn_HeaderListTooLarge(t *testing.T) {
	got := make(chan bool, 1)
	c := serve(t, Config{MaxHeaderListSize: 1000}, handlerFunc(func(s *Stream) {
		got <- s.Truncated
		respond(s, nil)
	}))
	var fields []string
	for i := range 10 { // each field fits the limit, all of them do not
		fields = append(fields, "x-big-"+strconv.Itoa(i), strings.Repeat("a", 150))
	}
	c.request(1, true, fields...)
	select {
	case tr := <-got:
		if !tr {
			t.Fatal("Truncated false, want true")
		}
	case <-c.conn.Done():
		t.Fatal("connection ended, want the stream dispatched")
	}
}

// Malformed requests are stream errors PROTOCOL_ERROR (RFC 9113 8.1.1), the connection
// stays.
func TestConn_MalformedRequests(t *testing.T) {
	c := serve(t, Config{}, echo)
	id := uint32(1)
	for _, fields := range [][]string{
		{":method", "GET", ":scheme", "https", ":authority", "a"}, // no :path
		{":method", "GET", ":scheme", "ftp", ":path", "/"},
		{":method", "G T", ":scheme", "https", ":path", "/"},
		{":method", "GET", ":scheme", "https", ":path", "/a b"},
		{":method", "GET", ":scheme", "https", ":path", "/", ":protocol", "websocket"},
		{":method", "GET", ":scheme", "https", ":path", "/", "connection", "close"},
		{":method", "GET", ":scheme", "https", ":path", "/", "te", "gzip"},
		{":method", "GET", ":scheme", "https", ":path", "/", "content-length", "x"},
	} {
		c.buf.Reset()
		for i := 0; i < len(fields); i += 2 {
			c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.buf.Bytes(), EndStream: true, EndHeaders: true})
		if code := c.rst(id); code != http2.ErrCodeProtocol {
			t.Errorf("%v: RST_STREAM %v, want PROTOCOL_ERROR", fields, code)
		}
		id += 2
	}
	c.request(id, true)
	if status, _ := c.response(id); status != 200 {
		t.Errorf("next stream: %d, want 200", status)
	}
}

// Header blocks the server encodes decode to the fields given, long values included.
func TestAppendField_Decodes(t *testing.T) {
	b := AppendStatus(AppendBlockStart(nil), 503)
	b = AppendField(b, "content-type", "text/plain")
	b = AppendField(b, "x-long", strings.Repeat("v", 300))
	b = AppendField(b, "www-authenticate", "Basic")
	var got []hpack.HeaderField
	d := hpack.NewDecoder(4096, func(f hpack.HeaderField) { got = append(got, f) })
	if _, err := d.Write(b); err != nil {
		t.Fatal(err)
	}
	want := []hpack.HeaderField{{Name: ":status", Value: "503"}, {Name: "content-type", Value: "text/plain"},
		{Name: "x-long", Value: strings.Repeat("v", 300)}, {Name: "www-authenticate", Value: "Basic"}}
	if len(got) != len(want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Value != want[i].Value {
			t.Errorf("field %d: %v, want %v", i, got[i], want[i])
		}
	}
}

// A frame trickled in (its first bytes, then nothing) ends the connection after
// HeaderTimeout, not IdleTimeout.
func TestConn_PartialFrameTimesOut(t *testing.T) {
	c := serve(t, Config{HeaderTimeout: 100 * time.Millisecond, IdleTimeout: time.Hour}, echo)
	c.request(1, true)
	c.response(1)
	c.nc.Write([]byte{0, 0, 5, 1}) // part of a HEADERS frame header
	for {
		if _, err := c.fr.ReadFrame(); err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("connection still open at the test's own deadline: %v", err)
			}
			return // closed by the server
		}
	}
}

// FlushBurst writes out a response while other streams are still open (it yields first, so
// that responses ready together share a write, but always flushes), and at once when the
// stream is alone.
func TestConn_FlushBurstWritesWhileOthersOpen(t *testing.T) {
	release := make(chan struct{})
	h := handlerFunc(func(s *Stream) {
		if s.ID == 1 {
			<-release // stays open while stream 3 answers
		}
		b := AppendStatus(AppendBlockStart(nil), 200)
		if err := s.WriteHeaders(b, false); err != nil {
			return
		}
		if err := s.WriteData([]byte("ok"), true); err != nil {
			return
		}
		s.FlushBurst()
	})
	c := serve(t, Config{}, h)
	c.request(1, true)
	c.request(3, true)
	if status, body := c.response(3); status != 200 || body != "ok" {
		t.Fatalf("stream 3 with stream 1 open: %d %q", status, body)
	}
	close(release)
	if status, body := c.response(1); status != 200 || body != "ok" {
		t.Fatalf("stream 1 alone: %d %q", status, body)
	}
}

// A SETTINGS frame that opens the stream windows is acknowledged before any DATA the new
// window lets out (h2spec 6.9.2 reads up to the ACK and would skip that DATA): with
// INITIAL_WINDOW_SIZE 0 a response waits; INITIAL_WINDOW_SIZE 1 gets the ACK, then 1 byte.
// The writer wakes while the settings are applied, so the test repeats to catch the race.
func TestConn_SettingsAckPrecedesDataItAllows(t *testing.T) {
	for i := range 20 {
		c := serve(t, Config{}, handlerFunc(func(s *Stream) { respond(s, []byte("hello")) }),
			http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
		c.request(1, true)
		c.until("response HEADERS", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
		c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
		c.until("SETTINGS ACK", func(f http2.Frame) bool {
			if d, ok := f.(*http2.DataFrame); ok && len(d.Data()) > 0 {
				t.Fatalf("round %d: %d bytes of DATA before the SETTINGS ACK", i, len(d.Data()))
			}
			s, ok := f.(*http2.SettingsFrame)
			return ok && s.IsAck()
		})
		d := c.until("DATA", func(f http2.Frame) bool { _, ok := f.(*http2.DataFrame); return ok }).(*http2.DataFrame)
		if len(d.Data()) != 1 {
			t.Fatalf("round %d: got %d bytes of DATA after the ACK, want 1", i, len(d.Data()))
		}
	}
}
