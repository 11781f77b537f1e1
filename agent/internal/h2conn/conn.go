// Package h2conn is the agent's own HTTP/2 server connection (RFC 9113): one reader
// goroutine per connection reads and checks every frame (golang.org/x/net/http2's Framer;
// header blocks are decoded and checked in headers.go, into reused buffers) and hands each request stream
// to a Dispatcher; whoever serves a stream writes its response itself, under the
// connection's write lock, into a buffered writer flushed once per burst. There is no writer
// goroutine and no channel hop per frame.
//
// Flow control is enforced both ways: a client may send no more than the windows it was
// given (the connection's and each stream's, returned as the server consumes the body), and
// responses wait for the client's windows. Malformed requests (RFC 9113 8.1.1: bad or
// missing pseudo-header fields, connection-specific fields, a TE other than "trailers", a
// content-length the DATA frames do not match) are stream errors PROTOCOL_ERROR; protocol
// violations end the connection with GOAWAY and the RFC's error code.
package h2conn

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Defaults for zero Config fields.
const (
	DefaultMaxConcurrentStreams = 100
	DefaultMaxHeaderListSize    = 64 << 10
	DefaultConnWindow           = 1 << 20
	DefaultIdleTimeout          = 120 * time.Second
	DefaultHeaderTimeout        = 10 * time.Second
	DefaultWriteTimeout         = 60 * time.Second
	DefaultBodyTimeout          = 60 * time.Second

	// MaxFrameSize is the SETTINGS_MAX_FRAME_SIZE the server keeps (the protocol's initial
	// value): a larger frame is the connection error FRAME_SIZE_ERROR.
	MaxFrameSize = 16 << 10
	// streamWindow is each stream's receive window (the protocol's initial value).
	streamWindow = 65535
	// headerTableSize is the HPACK dynamic table the server's decoder allows (initial value).
	headerTableSize = 4096
	// maxLingerTime bounds the wait for the client to close after a GOAWAY for an error.
	maxLingerTime = time.Second
)

// Config configures a connection. Zero fields take the defaults.
type Config struct {
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS: more open streams are
	// refused (RST_STREAM PROTOCOL_ERROR).
	MaxConcurrentStreams uint32
	// MaxHeaderListSize is SETTINGS_MAX_HEADER_LIST_SIZE: a larger request header list is
	// answered 431 by the Dispatcher (Stream.Truncated); one far larger ends the connection.
	MaxHeaderListSize uint32
	// ConnWindow is the connection's receive window: how much request body all streams
	// together may have buffered and not yet consumed.
	ConnWindow int32
	// IdleTimeout closes a connection without streams after this long without a frame;
	// HeaderTimeout bounds the preface and the client's first SETTINGS, and the rest of any
	// frame but DATA once it started to arrive; BodyTimeout the rest of a DATA frame;
	// WriteTimeout bounds each write to the client and each wait for a flow-control window.
	IdleTimeout, HeaderTimeout, BodyTimeout, WriteTimeout time.Duration
}

func (c Config) withDefaults() Config {
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.MaxHeaderListSize == 0 {
		c.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if c.ConnWindow < streamWindow {
		c.ConnWindow = DefaultConnWindow
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = DefaultHeaderTimeout
	}
	if c.BodyTimeout <= 0 {
		c.BodyTimeout = DefaultBodyTimeout
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	return c
}

// A Dispatcher serves the request streams of one connection.
type Dispatcher interface {
	// Dispatch starts serving s; it is called on the connection's reader goroutine and
	// must not block. false refuses the stream (RST_STREAM REFUSED_STREAM).
	Dispatch(s *Stream) bool
}

// Conn is one server-side HTTP/2 connection. Serve it once; Drain and Close may be called
// from any goroutine.
type Conn struct {
	cfg Config
	nc  net.Conn
	br  *bufio.Reader
	fr  *http2.Framer
	d   Dispatcher

	hdec   *headerDecoder // reader goroutine only
	hblock headerBlock

	wmu     sync.Mutex // guards bw, the Framer's writing side, writeBy
	bw      *bufio.Writer
	writeBy int64 // the write deadline last set (Unix ns)
	readBy  int64 // the read deadline last set (Unix ns); reader goroutine only

	mu              sync.Mutex // guards the fields below and every Stream's state
	streams         map[uint32]*Stream
	maxID           uint32 // highest client stream id seen
	sendWin         int64  // the client's connection window for DATA we send
	initialSendWin  int32  // the client's SETTINGS_INITIAL_WINDOW_SIZE
	maxSendFrame    int    // the client's SETTINGS_MAX_FRAME_SIZE
	recvWin         int64  // how much DATA the client may still send (connection)
	recvUnacked     int64  // consumed, not yet returned by WINDOW_UPDATE
	unackedSettings int
	goingAway       bool   // GOAWAY sent: no new streams
	goAwayID        uint32 // last stream id in the GOAWAY
	closed          bool
	done            chan struct{} // closed when the connection ends
}

// New returns a connection serving nc (after TLS with ALPN h2, or prior knowledge), handing
// its request streams to d.
func New(nc net.Conn, cfg Config, d Dispatcher) *Conn {
	cfg = cfg.withDefaults()
	c := &Conn{cfg: cfg, nc: nc, d: d, br: bufio.NewReaderSize(nc, 16<<10),
		streams: make(map[uint32]*Stream), sendWin: 65535, initialSendWin: 65535, maxSendFrame: MaxFrameSize,
		recvWin: int64(cfg.ConnWindow), done: make(chan struct{})}
	c.bw = bufio.NewWriterSize(deadlineWriter{c}, 16<<10)
	c.fr = http2.NewFramer(c.bw, c.br)
	c.fr.SetMaxReadFrameSize(MaxFrameSize)
	c.hdec = newHeaderDecoder(cfg.MaxHeaderListSize)
	return c
}

// Done is closed when the connection has ended.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Serve reads and serves the connection until it ends. It returns after closing it.
func (c *Conn) Serve() {
	defer c.Close()
	c.nc.SetReadDeadline(time.Now().Add(c.cfg.HeaderTimeout))
	var pre [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.br, pre[:]); err != nil || string(pre[:]) != http2.ClientPreface {
		if err == nil {
			c.goAway(http2.ErrCodeProtocol, true)
		}
		return
	}
	c.wmu.Lock()
	c.fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.cfg.MaxConcurrentStreams},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.cfg.MaxHeaderListSize})
	c.fr.WriteWindowUpdate(0, uint32(c.cfg.ConnWindow-65535))
	c.recvWin = int64(c.cfg.ConnWindow)
	c.unackedSettings = 1
	err := c.flushLocked()
	c.wmu.Unlock()
	if err != nil {
		return
	}
	first := true
	for {
		if c.br.Buffered() == 0 {
			if c.flush() != nil {
				return
			}
			if !first && !c.awaitFrame() {
				return
			}
		}
		c.frameWithin()
		f, err := c.fr.ReadFrame()
		var blk *headerBlock
		if hf, ok := f.(*http2.HeadersFrame); ok && err == nil {
			blk, err = c.readHeaderBlock(hf) // decoded even if ignored: HPACK state
		}
		if err != nil {
			if !c.readError(err) {
				return
			}
			continue
		}
		if first {
			if _, ok := f.(*http2.SettingsFrame); !ok {
				c.goAway(http2.ErrCodeProtocol, true)
				return
			}
			first = false
		}
		if err := c.process(f, blk); err != nil {
			if !c.handleError(err) {
				return
			}
		}
	}
}

// awaitFrame waits for the next frame's first byte under the idle policy: without streams,
// the connection closes after IdleTimeout without a frame; with streams it waits on (each
// stream's own reads are bounded by their waiters). It reports whether to go on.
func (c *Conn) awaitFrame() bool {
	for {
		c.readWithin(c.cfg.IdleTimeout)
		_, err := c.br.Peek(1)
		if err == nil {
			return true
		}
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			return false
		}
		c.mu.Lock()
		n, closed := len(c.streams), c.closed
		c.mu.Unlock()
		if closed {
			return false
		}
		if n == 0 {
			c.goAway(http2.ErrCodeNo, false)
			return false
		}
		c.readBy = 0
	}
}

// frameWithin bounds the reading of a frame that has started to arrive but is not buffered
// whole by HeaderTimeout (as a request head's on HTTP/1.1): a client trickling a frame in is
// cut off sooner than an idle one.
func (c *Conn) frameWithin() {
	n := c.br.Buffered()
	timeout := c.cfg.HeaderTimeout
	if n >= 9 {
		hdr, _ := c.br.Peek(9)
		if n >= 9+(int(hdr[0])<<16|int(hdr[1])<<8|int(hdr[2])) {
			return
		}
		if http2.FrameType(hdr[3]) == http2.FrameData {
			timeout = c.cfg.BodyTimeout // a slow upload, as on HTTP/1.1
		}
	}
	c.readBy = 0 // awaitFrame sets the idle deadline again
	c.nc.SetReadDeadline(time.Now().Add(timeout))
}

// readWithin keeps the read deadline between 15/16 and 16/16 of timeout from now, moving it
// (a timer re-arm) only about once per sixteenth of timeout.
func (c *Conn) readWithin(timeout time.Duration) {
	d := time.Now().Add(timeout)
	want := d.UnixNano()
	if c.readBy <= want && c.readBy > want-int64(timeout/16) {
		return
	}
	c.readBy = want
	c.nc.SetReadDeadline(d)
}

// readError handles an error from ReadFrame; false ends the connection.
func (c *Conn) readError(err error) bool {
	if errors.Is(err, http2.ErrFrameTooLarge) {
		c.goAway(http2.ErrCodeFrameSize, true)
		return false
	}
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		// A malformed header block (decoded in full, so HPACK state is intact): the
		// stream counts as opened and is reset.
		c.mu.Lock()
		if se.StreamID%2 == 1 && se.StreamID > c.maxID {
			c.maxID = se.StreamID
		}
		if st := c.streams[se.StreamID]; st != nil {
			c.resetLocked(st, se.Code, true)
		} else {
			c.mu.Unlock()
			c.writeRST(se.StreamID, se.Code)
			return true
		}
		c.mu.Unlock()
		return true
	case errors.As(err, &ce):
		c.goAway(http2.ErrCode(ce), true)
		return false
	}
	return false
}

// handleError handles an error from processing a frame; false ends the connection.
func (c *Conn) handleError(err error) bool {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		c.mu.Lock()
		if st := c.streams[se.StreamID]; st != nil {
			c.resetLocked(st, se.Code, true)
			c.mu.Unlock()
		} else {
			c.mu.Unlock()
			c.writeRST(se.StreamID, se.Code)
		}
		return true
	case errors.As(err, &ce):
		c.goAway(http2.ErrCode(ce), true)
		return false
	}
	return false
}

func streamError(id uint32, code http2.ErrCode) error {
	return http2.StreamError{StreamID: id, Code: code}
}

func connError(code http2.ErrCode) error { return http2.ConnectionError(code) }

// process handles one frame on the reader goroutine (blk: a HEADERS frame's decoded block).
func (c *Conn) process(f http2.Frame, blk *headerBlock) error {
	c.mu.Lock()
	ignore := c.goingAway && f.Header().StreamID > c.goAwayID
	c.mu.Unlock()
	if ignore {
		if df, ok := f.(*http2.DataFrame); ok {
			return c.dropData(df)
		}
		return nil
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.HeadersFrame:
		return c.processHeaders(blk)
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		if !f.IsAck() {
			c.wmu.Lock()
			c.fr.WritePing(true, f.Data)
			c.wmu.Unlock()
		}
		return nil
	case *http2.RSTStreamFrame:
		return c.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamID == f.StreamDep {
			return streamError(f.StreamID, http2.ErrCodeProtocol)
		}
		return nil
	case *http2.GoAwayFrame:
		c.Drain()
		return nil
	case *http2.PushPromiseFrame:
		return connError(http2.ErrCodeProtocol)
	}
	return nil // unknown and extension frames are ignored
}

func (c *Conn) processSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.unackedSettings--; c.unackedSettings < 0 {
			return connError(http2.ErrCodeProtocol)
		}
		return nil
	}
	if f.NumSettings() > 100 {
		return connError(http2.ErrCodeProtocol)
	}
	// mu is held until the ACK is in the write buffer, so no DATA that a new window allows
	// is written before it: a client reading up to the ACK (h2spec 6.9.2) finds the DATA
	// after it, not skipped on the way.
	c.mu.Lock()
	defer c.mu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - int64(c.initialSendWin)
			c.initialSendWin = int32(s.Val)
			for _, st := range c.streams {
				st.sendWin += delta
				if st.sendWin > 1<<31-1 {
					return connError(http2.ErrCodeFlowControl)
				}
				signal(st.wwake)
			}
		case http2.SettingMaxFrameSize:
			c.maxSendFrame = int(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	c.fr.WriteSettingsAck()
	c.wmu.Unlock()
	return nil
}

func (c *Conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID == 0 {
		c.sendWin += int64(f.Increment)
		if c.sendWin > 1<<31-1 {
			return connError(http2.ErrCodeFlowControl)
		}
		for _, st := range c.streams {
			signal(st.wwake)
		}
		return nil
	}
	if f.StreamID > c.maxID {
		return connError(http2.ErrCodeProtocol) // idle stream
	}
	st := c.streams[f.StreamID]
	if st == nil {
		return nil // closed: WINDOW_UPDATE may still arrive
	}
	st.sendWin += int64(f.Increment)
	if st.sendWin > 1<<31-1 {
		return streamError(f.StreamID, http2.ErrCodeFlowControl)
	}
	signal(st.wwake)
	return nil
}

func (c *Conn) processReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if f.StreamID > c.maxID {
		return connError(http2.ErrCodeProtocol) // idle stream
	}
	if st := c.streams[f.StreamID]; st != nil {
		st.resetCode = f.ErrCode
		c.resetLocked(st, 0, false)
	}
	return nil
}

// dropData takes a DATA frame nobody will read out of the connection window and returns it.
func (c *Conn) dropData(f *http2.DataFrame) error {
	c.mu.Lock()
	if int64(f.Length) > c.recvWin {
		c.mu.Unlock()
		return connError(http2.ErrCodeFlowControl)
	}
	c.mu.Unlock()
	if f.Length > 0 {
		c.wmu.Lock()
		c.fr.WriteWindowUpdate(0, f.Length)
		c.wmu.Unlock()
	}
	return nil
}

func (c *Conn) processData(f *http2.DataFrame) error {
	id := f.StreamID
	c.mu.Lock()
	if id == 0 || id > c.maxID {
		c.mu.Unlock()
		return connError(http2.ErrCodeProtocol)
	}
	st := c.streams[id]
	if st == nil || st.recvEnded || st.reset {
		c.mu.Unlock()
		if err := c.dropData(f); err != nil {
			return err
		}
		if st != nil && st.reset {
			return nil // a reset is on its way already
		}
		return streamError(id, http2.ErrCodeStreamClosed)
	}
	n := int64(f.Length)
	if n > c.recvWin {
		c.mu.Unlock()
		return connError(http2.ErrCodeFlowControl)
	}
	if n > st.recvWin {
		c.recvWin -= n
		c.recvUnacked += n // returned below: nobody will read it
		c.mu.Unlock()
		c.returnConnWindow(0)
		return streamError(id, http2.ErrCodeFlowControl)
	}
	data := f.Data()
	c.recvWin -= n
	st.recvWin -= n
	st.received += int64(len(data))
	if st.ContentLength >= 0 && (st.received > st.ContentLength || f.StreamEnded() && st.received != st.ContentLength) {
		c.recvUnacked += n
		c.mu.Unlock()
		c.returnConnWindow(0)
		return streamError(id, http2.ErrCodeProtocol)
	}
	st.body = append(st.body, data...)
	pad := n - int64(len(data)) // padding is returned at once
	c.recvUnacked += pad
	st.recvUnacked += pad
	if f.StreamEnded() {
		st.recvEnded = true
		c.closeIfDoneLocked(st)
	}
	signal(st.rwake)
	c.mu.Unlock()
	if pad > 0 {
		c.returnWindows(st, 0)
	}
	return nil
}

// checkFields reports whether regular fields are allowed in HTTP/2: no connection-specific
// field (RFC 9113 8.2.2), TE only "trailers". Called for every request: a switch, not a map.
func checkFields(fields []hpack.HeaderField) bool {
	for _, hf := range fields {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return false
		case "te":
			if hf.Value != "trailers" {
				return false
			}
		}
	}
	return true
}

func (c *Conn) processHeaders(f *headerBlock) error {
	id := f.streamID
	if id%2 != 1 {
		return connError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		defer c.mu.Unlock()
		return c.trailersLocked(st, f)
	}
	if id <= c.maxID {
		c.mu.Unlock()
		return connError(http2.ErrCodeProtocol)
	}
	c.maxID = id
	if uint32(len(c.streams)) >= c.cfg.MaxConcurrentStreams {
		code := http2.ErrCodeProtocol
		if c.unackedSettings > 0 {
			code = http2.ErrCodeRefusedStream
		}
		c.mu.Unlock()
		return streamError(id, code)
	}
	c.mu.Unlock()
	if f.hasPrio && f.priority.StreamDep == id {
		return streamError(id, http2.ErrCodeProtocol)
	}
	st, ok := newStream(c, f)
	if !ok {
		return streamError(id, http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	st.sendWin = int64(c.initialSendWin)
	c.streams[id] = st
	c.mu.Unlock()
	if !c.d.Dispatch(st) {
		c.mu.Lock()
		c.resetLocked(st, http2.ErrCodeRefusedStream, true)
		c.mu.Unlock()
	}
	return nil
}

// trailersLocked takes a HEADERS frame on an open stream: trailers.
func (c *Conn) trailersLocked(st *Stream, f *headerBlock) error {
	switch {
	case st.reset:
		return nil
	case st.recvEnded:
		return streamError(st.ID, http2.ErrCodeStreamClosed)
	case st.gotTrailers:
		return connError(http2.ErrCodeProtocol)
	}
	st.gotTrailers = true
	if !f.endStream || f.npseudo > 0 || !checkFields(f.fields) ||
		st.ContentLength >= 0 && st.received != st.ContentLength {
		return streamError(st.ID, http2.ErrCodeProtocol)
	}
	st.trailers = append([]hpack.HeaderField(nil), f.regular()...)
	st.recvEnded = true
	c.closeIfDoneLocked(st)
	signal(st.rwake)
	return nil
}

// newStream checks a request's header block (RFC 9113 8.3.1) and returns its stream.
func newStream(c *Conn, f *headerBlock) (*Stream, bool) {
	st := &Stream{c: c, ID: f.streamID, ContentLength: -1, Truncated: f.truncated,
		recvWin: streamWindow}
	for _, hf := range f.pseudo() {
		switch hf.Name {
		case ":method":
			st.Method = hf.Value
		case ":scheme":
			st.Scheme = hf.Value
		case ":authority":
			st.Authority = hf.Value
		case ":path":
			st.Path = hf.Value
		default:
			return nil, false // :protocol (no extended CONNECT), :status, unknown ones
		}
	}
	if st.Method == "CONNECT" {
		if st.Path != "" || st.Scheme != "" || st.Authority == "" {
			return nil, false
		}
	} else if st.Method == "" || st.Path == "" || st.Scheme != "https" && st.Scheme != "http" {
		return nil, false
	}
	if !isToken(st.Method) || strings2HasSpace(st.Path) {
		return nil, false
	}
	if !checkFields(f.regular()) {
		return nil, false
	}
	for _, hf := range f.regular() {
		if hf.Name != "content-length" {
			continue
		}
		n, err := strconv.ParseUint(hf.Value, 10, 63)
		if err != nil || st.ContentLength >= 0 && int64(n) != st.ContentLength {
			return nil, false
		}
		st.ContentLength = int64(n)
	}
	if f.endStream {
		if st.ContentLength > 0 {
			return nil, false
		}
		st.recvEnded, st.NoBody = true, true
	}
	if reg := f.regular(); len(reg) <= len(st.fieldsBuf) {
		st.Fields = st.fieldsBuf[:copy(st.fieldsBuf[:], reg):len(reg)]
	} else {
		st.Fields = append([]hpack.HeaderField(nil), reg...)
	}
	return st, true
}

func strings2HasSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			return true
		}
	}
	return false
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !httpguts.IsTokenRune(rune(s[i])) {
			return false
		}
	}
	return true
}

// resetLocked closes st abnormally: send says to send RST_STREAM code (else the client
// reset it). Waiters wake.
func (c *Conn) resetLocked(st *Stream, code http2.ErrCode, send bool) {
	if st.reset || st.closed {
		return
	}
	st.reset = true
	c.removeLocked(st)
	if send {
		c.wmu.Lock()
		c.fr.WriteRSTStream(st.ID, code)
		c.wmu.Unlock()
	}
}

// removeLocked drops st from the open streams, returns the connection window its unread
// body held, wakes its waiters and, when draining, closes the connection once none is left.
func (c *Conn) removeLocked(st *Stream) {
	if st.closed {
		return
	}
	st.closed = true
	delete(c.streams, st.ID)
	if unread := int64(len(st.body) - st.off); unread > 0 {
		c.recvUnacked += unread
		st.body, st.off = nil, 0
	}
	signal(st.rwake)
	signal(st.wwake)
	if c.recvUnacked > 0 {
		c.recvWin += c.recvUnacked
		n := c.recvUnacked
		c.recvUnacked = 0
		c.wmu.Lock()
		c.fr.WriteWindowUpdate(0, uint32(n))
		c.wmu.Unlock()
	}
	if c.goingAway && len(c.streams) == 0 && !c.closed {
		go func() { // not under mu; the last frames are in bw already
			c.flush()
			c.Close()
		}()
	}
}

// closeIfDoneLocked removes st once both sides have ended.
func (c *Conn) closeIfDoneLocked(st *Stream) {
	if st.recvEnded && st.sentEnd {
		c.removeLocked(st)
	}
}

// returnConnWindow returns the connection window consumed, adding n.
func (c *Conn) returnConnWindow(n int64) {
	c.mu.Lock()
	c.recvUnacked += n
	var inc int64
	if c.recvUnacked > 0 {
		inc = c.recvUnacked
		c.recvWin += inc
		c.recvUnacked = 0
	}
	c.mu.Unlock()
	if inc > 0 {
		c.wmu.Lock()
		c.fr.WriteWindowUpdate(0, uint32(inc))
		c.wmu.Unlock()
	}
}

// returnWindows sends the WINDOW_UPDATEs owed for st's and the connection's consumed body
// once they are worth a frame; n more bytes were consumed.
func (c *Conn) returnWindows(st *Stream, n int64) {
	c.mu.Lock()
	c.recvUnacked += n
	st.recvUnacked += n
	var sInc, cInc int64
	if st.recvUnacked >= streamWindow/4 && !st.recvEnded && !st.closed {
		sInc = st.recvUnacked
		st.recvWin += sInc
		st.recvUnacked = 0
	}
	if c.recvUnacked >= int64(c.cfg.ConnWindow)/4 || c.recvUnacked > 0 && len(c.streams) <= 1 {
		cInc = c.recvUnacked
		c.recvWin += cInc
		c.recvUnacked = 0
	}
	c.mu.Unlock()
	if sInc > 0 || cInc > 0 {
		c.wmu.Lock()
		if sInc > 0 {
			c.fr.WriteWindowUpdate(st.ID, uint32(sInc))
		}
		if cInc > 0 {
			c.fr.WriteWindowUpdate(0, uint32(cInc))
		}
		c.flushLocked()
		c.wmu.Unlock()
	}
}

func (c *Conn) writeRST(id uint32, code http2.ErrCode) {
	c.wmu.Lock()
	c.fr.WriteRSTStream(id, code)
	c.wmu.Unlock()
}

// flush writes out what is buffered.
func (c *Conn) flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	if c.bw.Buffered() == 0 {
		return nil
	}
	err := c.bw.Flush()
	if err != nil {
		c.nc.Close() // the reader ends, then Close cleans up
	}
	return err
}

// deadlineWriter writes to the connection within the write timeout (under wmu): the
// deadline moves about once per sixteenth of the timeout.
type deadlineWriter struct{ c *Conn }

func (w deadlineWriter) Write(p []byte) (int, error) {
	c := w.c
	d := time.Now().Add(c.cfg.WriteTimeout)
	if want := d.UnixNano(); c.writeBy > want || c.writeBy <= want-int64(c.cfg.WriteTimeout/16) {
		c.writeBy = want
		c.nc.SetWriteDeadline(d)
	}
	return c.nc.Write(p)
}

// Drain starts a graceful close: GOAWAY NO_ERROR naming the last stream the connection will
// serve; the streams already open finish, then the connection closes.
func (c *Conn) Drain() {
	c.mu.Lock()
	if c.goingAway || c.closed {
		c.mu.Unlock()
		return
	}
	c.goingAway, c.goAwayID = true, c.maxID
	id, idle := c.maxID, len(c.streams) == 0
	c.mu.Unlock()
	c.wmu.Lock()
	c.fr.WriteGoAway(id, http2.ErrCodeNo, nil)
	c.flushLocked()
	c.wmu.Unlock()
	if idle {
		c.Close()
	}
}

// goAway sends GOAWAY code. For an error (linger), the connection then waits briefly for
// the client to close, so the GOAWAY is read before the connection resets.
func (c *Conn) goAway(code http2.ErrCode, linger bool) {
	c.mu.Lock()
	c.goingAway, c.goAwayID = true, c.maxID
	id := c.maxID
	c.mu.Unlock()
	c.wmu.Lock()
	c.fr.WriteGoAway(id, code, nil)
	err := c.flushLocked()
	c.wmu.Unlock()
	if !linger || err != nil {
		return
	}
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.CloseWrite()
	} else if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(maxLingerTime))
	io.Copy(io.Discard, io.LimitReader(c.nc, 1<<20))
}

// Close ends the connection now, without flushing what is buffered: open streams are reset
// (their waiters fail).
func (c *Conn) Close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	for _, st := range c.streams {
		st.reset = true
		st.closed = true
		signal(st.rwake)
		signal(st.wwake)
	}
	clear(c.streams)
	close(c.done)
	c.mu.Unlock()
	c.nc.Close()
}

// signal wakes ch's waiter, if any, without blocking.
func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
