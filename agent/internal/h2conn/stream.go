package h2conn

import (
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Stream is one request stream. Its request fields are set before Dispatch and never change;
// its methods may be called from any goroutine, but one body reader and one response writer
// at a time.
type Stream struct {
	c  *Conn
	ID uint32
	// Method, Scheme, Authority and Path are the request's pseudo-header fields (Scheme and
	// Path empty for CONNECT).
	Method, Scheme, Authority, Path string
	// Fields are the regular header fields, names lower-case, in order.
	Fields []hpack.HeaderField
	// ContentLength is the content-length field's value, -1 without one.
	ContentLength int64
	// NoBody says the HEADERS frame ended the stream: the request has no body.
	NoBody bool
	// Truncated says the header list was over the advertised limit: Fields is incomplete,
	// and the request must be answered 431.
	Truncated bool

	rwake, wwake chan struct{}        // a reader or writer waiting for the stream (cap 1; made by wakeLocked)
	fieldsBuf    [8]hpack.HeaderField // Fields when they are few

	// Guarded by c.mu.
	body        []byte // received, unread request body: body[off:]
	off         int
	received    int64 // body bytes received
	recvWin     int64 // how much DATA the client may still send on the stream
	recvUnacked int64
	recvEnded   bool // END_STREAM received
	gotTrailers bool
	trailers    []hpack.HeaderField
	sendWin     int64 // the client's window for DATA on the stream
	sentHeaders bool
	sentEnd     bool // END_STREAM sent
	reset       bool // reset by either side, or the connection ended
	resetCode   http2.ErrCode
	closed      bool // no longer among the connection's streams
}

// ErrReset is returned by a Stream's methods once the stream was reset by the client or the
// connection ended.
var ErrReset = errors.New("h2conn: stream reset")

// ReadBody reads request body bytes, io.EOF after the last. deadline, if it holds a time
// (Unix ns, 0 for none), bounds the wait (an os.ErrDeadlineExceeded); Interrupt wakes a
// reader to look at it again.
func (s *Stream) ReadBody(p []byte, deadline *atomic.Int64) (int, error) {
	c := s.c
	c.mu.Lock()
	for {
		if n := copy(p, s.body[s.off:]); n > 0 {
			s.off += n
			if s.off == len(s.body) {
				s.body, s.off = s.body[:0], 0
			}
			c.mu.Unlock()
			c.returnWindows(s, int64(n))
			return n, nil
		}
		switch {
		case s.reset && s.sentEnd:
			c.mu.Unlock()
			return 0, io.EOF // reset after the response: the body is not wanted
		case s.reset:
			c.mu.Unlock()
			return 0, ErrReset
		case s.recvEnded:
			c.mu.Unlock()
			return 0, io.EOF
		}
		ch := wakeLocked(&s.rwake)
		c.mu.Unlock()
		if err := wait(ch, deadline); err != nil {
			return 0, err
		}
		c.mu.Lock()
	}
}

// Trailers returns the request's trailer fields, once ReadBody returned io.EOF.
func (s *Stream) Trailers() []hpack.HeaderField {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.trailers
}

// AwaitReset waits until the client resets the stream or the connection ends (ErrReset),
// or until deadline (os.ErrDeadlineExceeded). It watches a client while its request is
// served.
func (s *Stream) AwaitReset(deadline *atomic.Int64) error {
	for {
		s.c.mu.Lock()
		reset := s.reset && !s.sentEnd
		ch := wakeLocked(&s.rwake)
		s.c.mu.Unlock()
		if reset {
			return ErrReset
		}
		if err := wait(ch, deadline); err != nil {
			return err
		}
	}
}

// Interrupt wakes a goroutine waiting in ReadBody or AwaitReset (its deadline moved).
func (s *Stream) Interrupt() {
	s.c.mu.Lock()
	signal(s.rwake)
	s.c.mu.Unlock()
}

// wakeLocked returns *ch, made on first use: most streams never wait. Under c.mu, as every
// signal is, so none is lost between a waiter's look at the stream and its wait.
func wakeLocked(ch *chan struct{}) chan struct{} {
	if *ch == nil {
		*ch = make(chan struct{}, 1)
	}
	return *ch
}

// wait waits for a signal on ch or the deadline.
func wait(ch chan struct{}, deadline *atomic.Int64) error {
	d := int64(0)
	if deadline != nil {
		d = deadline.Load()
	}
	if d == 0 {
		<-ch
		return nil
	}
	left := time.Duration(d - time.Now().UnixNano())
	if left <= 0 {
		return os.ErrDeadlineExceeded
	}
	t := time.NewTimer(left)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
		return os.ErrDeadlineExceeded
	}
}

// WriteHeaders writes a response (or trailers) header block (see AppendStatus, AppendField),
// ending the stream if end. It is buffered until Flush or a wait for a window.
func (s *Stream) WriteHeaders(block []byte, end bool) error {
	c := s.c
	c.mu.Lock()
	if s.reset || s.sentEnd {
		c.mu.Unlock()
		return ErrReset
	}
	s.sentHeaders = true
	if end {
		s.sentEnd = true
	}
	maxFrame := c.maxSendFrame
	c.mu.Unlock()
	c.wmu.Lock()
	c.writeBlockLocked(s.ID, block, end, maxFrame)
	c.wmu.Unlock()
	if end {
		c.mu.Lock()
		c.endLocked(s)
		c.mu.Unlock()
	}
	return nil
}

// writeBlockLocked writes a header block as HEADERS and CONTINUATION frames of at most
// maxFrame bytes. Under wmu.
func (c *Conn) writeBlockLocked(id uint32, block []byte, end bool, maxFrame int) {
	first := true
	for first || len(block) > 0 {
		n := min(len(block), maxFrame)
		frag := block[:n]
		block = block[n:]
		if first {
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: frag, EndStream: end, EndHeaders: len(block) == 0})
			first = false
		} else {
			c.fr.WriteContinuation(id, len(block) == 0, frag)
		}
	}
}

// WriteResponse writes a response's header block and body, ending the stream if end, and
// flushes as FlushBurst does: WriteHeaders, WriteData and FlushBurst in one pass over the
// connection's locks when the body fits the client's windows and one DATA frame (the
// common small response); otherwise it calls them.
func (s *Stream) WriteResponse(block, data []byte, end bool) error {
	c := s.c
	c.mu.Lock()
	if s.reset || s.sentEnd {
		c.mu.Unlock()
		c.flush() // what reset the stream may have buffered an RST_STREAM
		return ErrReset
	}
	n := int64(len(data))
	if n > min(s.sendWin, c.sendWin, int64(c.maxSendFrame)) {
		c.mu.Unlock()
		err := s.WriteHeaders(block, false)
		if err == nil {
			err = s.WriteData(data, end)
		}
		if ferr := s.FlushBurst(); err == nil {
			err = ferr
		}
		return err
	}
	s.sentHeaders = true
	s.sendWin -= n
	c.sendWin -= n
	s.sentEnd = end
	maxFrame, others := c.maxSendFrame, len(c.streams)-1
	c.mu.Unlock()
	c.wmu.Lock()
	c.writeBlockLocked(s.ID, block, end && n == 0, maxFrame)
	if n > 0 {
		c.fr.WriteData(s.ID, end, data)
	}
	c.wmu.Unlock()
	if end {
		c.mu.Lock()
		c.endLocked(s)
		c.mu.Unlock()
	}
	return c.flushBurst(others)
}

// endLocked finishes the response side: the stream closes, at once if the client ended
// its side, else with RST_STREAM NO_ERROR (the rest of the request body is not wanted).
func (c *Conn) endLocked(s *Stream) {
	if s.recvEnded {
		c.removeLocked(s)
		return
	}
	c.resetLocked(s, http2.ErrCodeNo, true)
}

// WriteData writes response body bytes as DATA frames within the client's windows, waiting
// for them (at most WriteTimeout each time; then the stream is reset), ending the stream
// if end.
func (s *Stream) WriteData(p []byte, end bool) error {
	c := s.c
	for {
		c.mu.Lock()
		if s.reset || s.sentEnd {
			c.mu.Unlock()
			return ErrReset
		}
		n := int64(len(p))
		n = min(n, s.sendWin, c.sendWin, int64(c.maxSendFrame))
		if n < 0 {
			n = 0
		}
		if n == 0 && len(p) > 0 {
			ch := wakeLocked(&s.wwake)
			c.mu.Unlock()
			if err := c.flush(); err != nil {
				return err
			}
			if !s.awaitWindow(ch) {
				return ErrReset
			}
			continue
		}
		s.sendWin -= n
		c.sendWin -= n
		last := end && n == int64(len(p))
		if last {
			s.sentEnd = true
		}
		c.mu.Unlock()
		c.wmu.Lock()
		c.fr.WriteData(s.ID, last, p[:n])
		c.wmu.Unlock()
		if last {
			c.mu.Lock()
			c.endLocked(s)
			c.mu.Unlock()
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
	}
}

// awaitWindow waits for a window update or the write timeout; at the timeout the stream is
// reset (CANCEL) and false returned.
func (s *Stream) awaitWindow(wake chan struct{}) bool {
	c := s.c
	t := time.NewTimer(c.cfg.WriteTimeout)
	defer t.Stop()
	select {
	case <-wake:
		return true
	case <-t.C:
		c.mu.Lock()
		c.resetLocked(s, http2.ErrCodeCancel, true)
		c.mu.Unlock()
		c.flush()
		return false
	}
}

// Flush writes out what the connection has buffered.
func (s *Stream) Flush() error { return s.c.flush() }

// FlushBurst is Flush for the end of a piece of a response: while other streams of the
// connection are open, the goroutine first yields once, so that responses that became ready
// together (their backends' replies came in the same poll) go out in one write, written by
// whoever flushes first. Alone on its connection, it flushes at once.
func (s *Stream) FlushBurst() error {
	c := s.c
	c.mu.Lock()
	others := len(c.streams)
	if !s.closed {
		others--
	}
	c.mu.Unlock()
	return c.flushBurst(others)
}

// flushBurst flushes, yielding once first while others (other streams of the connection)
// are open: FlushBurst's rule.
func (c *Conn) flushBurst(others int) error {
	if others > 0 {
		runtime.Gosched()
	}
	return c.flush()
}

// Reset ends the stream with RST_STREAM code (unless it has ended) and flushes.
func (s *Stream) Reset(code http2.ErrCode) {
	c := s.c
	c.mu.Lock()
	if !s.sentEnd {
		c.resetLocked(s, code, true)
	}
	c.mu.Unlock()
	c.flush()
}

// IsReset reports whether the stream was reset (by either side) or its connection ended.
func (s *Stream) IsReset() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.reset && !s.sentEnd
}

// Ended reports whether the response was ended (END_STREAM sent).
func (s *Stream) Ended() bool {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return s.sentEnd
}

// RemoteAddr and LocalAddr are the connection's addresses.
func (s *Stream) RemoteAddr() net.Addr { return s.c.nc.RemoteAddr() }
func (s *Stream) LocalAddr() net.Addr  { return s.c.nc.LocalAddr() }
