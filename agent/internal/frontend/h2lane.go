package frontend

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgeplane/edgeplane/agent/internal/h2conn"
)

// HTTP/2 requests are served by the proxy's HTTP/1.1 fast path, through lanes: a lane is a
// proxy.Conn whose client connection is the lane itself, a net.Conn that reads a stream's
// request as HTTP/1.1 (the request line and Host from the pseudo-header fields, the fields,
// the body from DATA frames) and turns the HTTP/1.1 response written to it into HEADERS and
// DATA frames on the stream. Routing, header rewriting, limits, balancing, retries, tracing
// and metrics are so exactly those of HTTP/1.1, backend connections come from the same
// pools, and a lane keeps its backend connections from request to request as a keep-alive
// client connection does. A lane serves one stream at a time; a connection has as many as
// it has streams in progress (at most twice the concurrent stream limit). A request the
// fast path hands over (a body without content-length, sent chunked; Expect; CONNECT and
// other unusual forms) is served by net/http on the lane, which then ends.

// maxResponseHead bounds the HTTP/1.1 response head a lane converts (the fast path and
// net/http write their own, bounded by the backend head limits).
const maxResponseHead = 1 << 20

// maxIdleLanes is how many lanes (each keeping up to four backend connections) a connection
// keeps between requests; more end after their request.
const maxIdleLanes = 8

// lanes dispatches one HTTP/2 connection's streams to lanes. When all the lanes it may have
// are busy, streams wait in a queue (as long again) for the next lane free; a stream reset
// meanwhile is dropped there.
type lanes struct {
	s     *Server
	mu    sync.Mutex // guards idle, queue, n, done
	idle  []*lane
	queue []*h2conn.Stream
	n     int
	max   int
	done  bool
}

func newLanes(s *Server, maxStreams uint32) *lanes {
	return &lanes{s: s, max: 2 * int(maxStreams)}
}

// Dispatch implements h2conn.Dispatcher.
func (d *lanes) Dispatch(st *h2conn.Stream) bool {
	if st.Truncated {
		go refuseStream(st, 431, "edgeplane: request header too large\n")
		return true
	}
	d.mu.Lock()
	if d.done {
		d.mu.Unlock()
		return false
	}
	var l *lane
	if k := len(d.idle); k > 0 {
		l = d.idle[k-1]
		d.idle = d.idle[:k-1]
	} else if d.n < d.max {
		d.n++
		l = newLane(d, st)
	} else if len(d.queue) < d.max || d.prune() {
		d.queue = append(d.queue, st)
		d.mu.Unlock()
		return true
	} else {
		d.mu.Unlock()
		return false
	}
	l.next <- st // never blocks: an idle lane has nothing pending
	d.mu.Unlock()
	return true
}

// close ends the idle lanes and makes busy ones end after their stream.
func (d *lanes) close() {
	d.mu.Lock()
	d.done = true
	for _, l := range d.idle {
		close(l.next)
	}
	d.idle, d.queue = nil, nil // the connection reset the queued streams
	d.mu.Unlock()
}

// idleLane returns l to the idle lanes after its response, unless it must end.
func (d *lanes) idleLane(l *lane) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if l.gone || l.handedOff.Load() {
		return
	}
	if st := d.dequeue(); st != nil {
		l.next <- st
		return
	}
	if d.done || len(d.idle) >= maxIdleLanes {
		l.gone = true // its Conn ends, its backend connections go back to their pools
		close(l.next)
		return
	}
	d.idle = append(d.idle, l)
}

// prune drops the queued streams reset meanwhile and reports whether that made room. Under mu.
func (d *lanes) prune() bool {
	q := d.queue[:0]
	for _, st := range d.queue {
		if !st.IsReset() {
			q = append(q, st)
		}
	}
	clear(d.queue[len(q):])
	d.queue = q
	return len(q) < d.max
}

// dequeue returns the first queued stream not reset meanwhile, or nil. Under mu.
func (d *lanes) dequeue() *h2conn.Stream {
	for len(d.queue) > 0 {
		st := d.queue[0]
		d.queue[0] = nil
		d.queue = d.queue[1:]
		if !st.IsReset() {
			return st
		}
	}
	return nil
}

// laneGone forgets a lane that closed, passing on a stream it was given but never read.
func (d *lanes) laneGone(l *lane) {
	d.mu.Lock()
	l.gone = true
	d.n--
	for i, il := range d.idle {
		if il == l {
			d.idle = append(d.idle[:i], d.idle[i+1:]...)
			break
		}
	}
	var pending *h2conn.Stream
	select {
	case st, ok := <-l.next:
		if ok {
			pending = st
		}
	default:
	}
	if pending == nil && !d.done {
		pending = d.dequeue() // a lane is free now
	}
	d.mu.Unlock()
	if pending != nil && !d.Dispatch(pending) {
		pending.Reset(http2.ErrCodeRefusedStream)
	}
}

// refuseStream answers st with status and a plain-text body.
func refuseStream(st *h2conn.Stream, status int, body string) {
	b := h2conn.AppendBlockStart(nil)
	b = h2conn.AppendStatus(b, status)
	b = h2conn.AppendField(b, "content-type", "text/plain; charset=utf-8")
	b = h2conn.AppendField(b, "content-length", strconv.Itoa(len(body)))
	if st.WriteHeaders(b, false) == nil {
		st.WriteData([]byte(body), true)
	}
	st.Flush()
}

// Body framings of a lane's request and response.
const (
	bodyNone = iota
	bodyLength
	bodyChunked
	bodyUntilClose
)

// Response parser states.
const (
	wHead = iota
	wBody
	wChunkSize
	wChunkData
	wChunkEnd
	wTrailers
	wDone
)

// lane is one proxy.Conn serving streams one at a time; it is that Conn's net.Conn.
type lane struct {
	d             *lanes
	remote, local net.Addr
	next          chan *h2conn.Stream // the next stream to serve (cap 1); closed: end
	intr          chan struct{}       // wakes a read waiting for the next stream (cap 1)
	gone          bool                // under d.mu: ended or ending, never idle again

	readDL    atomic.Int64                  // read deadline, Unix ns (0: none)
	reading   atomic.Pointer[h2conn.Stream] // the stream whose request is being read
	handedOff atomic.Bool                   // net/http serves the lane now
	closed    atomic.Bool
	respDone  atomic.Bool // the current stream's response has ended

	// Read side (one reader at a time).
	cur     *h2conn.Stream
	stage   []byte // bytes to deliver before more of the body
	stageAt int
	mode    int
	reqDone bool // the whole request was delivered
	tmp     []byte

	// Write side (one writer at a time), guarded by wmu against Close.
	wmu      sync.Mutex
	ws       *h2conn.Stream
	method   string
	wstate   int
	wmode    int
	left     int64  // body bytes left (bodyLength) or in the chunk (wChunkData)
	head     []byte // response head being gathered, then chunk-size and trailer lines
	name     []byte // a response field's name, lower-cased
	block    []byte // header block to send
	data     []byte // body bytes to send
	trailers []byte // trailer block to send
	sentHead bool
}

func newLane(d *lanes, first *h2conn.Stream) *lane {
	l := &lane{d: d, next: make(chan *h2conn.Stream, 1), intr: make(chan struct{}, 1)}
	l.remote, l.local = first.RemoteAddr(), first.LocalAddr()
	pc := d.s.cfg.Proxy.NewConn(l, true)
	go func() {
		if hc := pc.Serve(); hc != nil {
			l.handedOff.Store(true)
			d.s.laneHTTPln.push(hc)
		}
	}()
	return l
}

// start begins reading st's request as HTTP/1.1.
func (l *lane) start(st *h2conn.Stream) {
	l.cur = st
	l.reading.Store(st)
	l.respDone.Store(false)
	l.reqDone = false
	b := l.stage[:0]
	method := st.Method
	b = append(b, method...)
	b = append(b, ' ')
	if method == "CONNECT" {
		b = append(b, st.Authority...)
	} else {
		b = append(b, st.Path...)
	}
	b = append(b, " HTTP/1.1\r\n"...)
	if st.Authority != "" {
		b = append(b, "Host: "...)
		b = append(b, st.Authority...)
		b = append(b, "\r\n"...)
	}
	cookies := 0
	for _, f := range st.Fields {
		switch {
		case f.Name == "host" && st.Authority != "":
			continue
		case f.Name == "cookie":
			cookies++
			continue
		}
		b = append(b, f.Name...)
		b = append(b, ": "...)
		b = append(b, f.Value...)
		b = append(b, "\r\n"...)
	}
	if cookies > 0 { // RFC 9113 8.2.3: one field for HTTP/1.1
		b = append(b, "cookie: "...)
		first := true
		for _, f := range st.Fields {
			if f.Name == "cookie" {
				if !first {
					b = append(b, "; "...)
				}
				first = false
				b = append(b, f.Value...)
			}
		}
		b = append(b, "\r\n"...)
	}
	switch {
	case st.ContentLength >= 0:
		l.mode = bodyLength
	case st.NoBody:
		l.mode = bodyNone
	default:
		l.mode = bodyChunked // no length: net/http takes it
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	}
	if l.mode == bodyNone || l.mode == bodyLength && st.ContentLength == 0 {
		l.mode = bodyLength // reads EOF at once
	}
	b = append(b, "\r\n"...)
	l.stage, l.stageAt = b, 0

	l.wmu.Lock()
	l.ws, l.method = st, method
	l.wstate, l.head, l.sentHead = wHead, l.head[:0], false
	l.wmu.Unlock()
}

// Read implements net.Conn: the current stream's request as HTTP/1.1, then (while the
// response is served) a wait for the client to reset the stream; after the response, the
// next stream's request.
func (l *lane) Read(p []byte) (int, error) {
	for {
		if l.handedOff.Load() {
			if l.cur == nil || l.respDone.Load() && l.reqDone && l.stageAt >= len(l.stage) {
				return 0, io.EOF // net/http serves one request on a lane
			}
		} else if l.cur == nil || l.respDone.Load() {
			if err := l.awaitNext(); err != nil {
				return 0, err
			}
			continue
		}
		if l.stageAt < len(l.stage) {
			n := copy(p, l.stage[l.stageAt:])
			l.stageAt += n
			return n, nil
		}
		if l.reqDone {
			if l.respDone.Load() {
				return 0, io.EOF
			}
			if err := l.cur.AwaitReset(&l.readDL); err != nil {
				return 0, err
			}
			continue
		}
		if l.mode == bodyLength {
			n, err := l.cur.ReadBody(p, &l.readDL)
			if err == io.EOF {
				l.reqDone = true
				continue
			}
			return n, err
		}
		if err := l.readChunk(len(p)); err != nil {
			return 0, err
		}
	}
}

// awaitNext waits for the next stream (the first Read gets the lane's first stream).
func (l *lane) awaitNext() error {
	l.cur = nil
	l.reading.Store(nil)
	for {
		if d := l.readDL.Load(); d != 0 && d <= time.Now().UnixNano() {
			return os.ErrDeadlineExceeded
		}
		select {
		case st, ok := <-l.next:
			if !ok {
				return io.EOF
			}
			if st.IsReset() { // reset before it was read: not sent to a backend
				l.d.idleLane(l)
				continue
			}
			l.start(st)
			return nil
		case <-l.intr:
		}
	}
}

// readChunk stages the next piece of a chunked body (room: the reader's buffer).
func (l *lane) readChunk(room int) error {
	if cap(l.tmp) < 16<<10 {
		l.tmp = make([]byte, 16<<10)
	}
	n, err := l.cur.ReadBody(l.tmp[:min(len(l.tmp), max(room-16, 1))], &l.readDL)
	b := l.stage[:0]
	if n > 0 {
		b = strconv.AppendInt(b, int64(n), 16)
		b = append(b, "\r\n"...)
		b = append(b, l.tmp[:n]...)
		b = append(b, "\r\n"...)
	}
	if err == io.EOF {
		b = append(b, "0\r\n"...)
		for _, f := range l.cur.Trailers() {
			b = append(b, f.Name...)
			b = append(b, ": "...)
			b = append(b, f.Value...)
			b = append(b, "\r\n"...)
		}
		b = append(b, "\r\n"...)
		l.reqDone = true
		err = nil
	}
	l.stage, l.stageAt = b, 0
	return err
}

// Write implements net.Conn: an HTTP/1.1 response, converted to the current stream's frames.
func (l *lane) Write(p []byte) (int, error) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	st := l.ws
	if st == nil || l.wstate == wDone {
		return 0, net.ErrClosed
	}
	n := len(p)
	for len(p) > 0 && l.wstate != wDone {
		var err error
		if p, err = l.parse(p); err != nil {
			st.Reset(http2.ErrCodeInternal)
			l.ws = nil
			return 0, err
		}
	}
	if err := l.emit(st); err != nil {
		return 0, err
	}
	return n, nil
}

var errBadResponse = errors.New("frontend: malformed HTTP/1.1 response on a lane")

// parse takes in response bytes, returning what is left.
func (l *lane) parse(p []byte) ([]byte, error) {
	switch l.wstate {
	case wHead:
		if len(l.head) == 0 { // the whole head in this write (the fast path's): read in place
			if i := bytes.Index(p, crlfcrlf); i >= 0 {
				return p[i+4:], l.parseHead(p[:i+4])
			}
		}
		start := max(len(l.head)-3, 0)
		l.head = append(l.head, p...)
		i := bytes.Index(l.head[start:], crlfcrlf)
		if i < 0 {
			if len(l.head) > maxResponseHead {
				return nil, errBadResponse
			}
			return nil, nil
		}
		end := start + i + 4
		rest := p[len(p)-(len(l.head)-end):]
		if err := l.parseHead(l.head[:end]); err != nil {
			return nil, err
		}
		l.head = l.head[:0]
		return rest, nil
	case wBody:
		if l.wmode == bodyUntilClose {
			l.data = append(l.data, p...)
			return nil, nil
		}
		take := int(min(int64(len(p)), l.left))
		l.data = append(l.data, p[:take]...)
		if l.left -= int64(take); l.left == 0 {
			l.wstate = wDone
		}
		return p[take:], nil
	case wChunkData:
		take := int(min(int64(len(p)), l.left))
		l.data = append(l.data, p[:take]...)
		if l.left -= int64(take); l.left == 0 {
			l.wstate = wChunkEnd
		}
		return p[take:], nil
	}
	// Line states: chunk size, the CRLF after a chunk, trailers.
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		if l.head = append(l.head, p...); len(l.head) > 4096 {
			return nil, errBadResponse
		}
		return nil, nil
	}
	line := bytes.TrimSuffix(append(l.head, p[:i]...), []byte("\r"))
	l.head = l.head[:0]
	rest := p[i+1:]
	switch l.wstate {
	case wChunkSize:
		if j := bytes.IndexByte(line, ';'); j >= 0 {
			line = line[:j]
		}
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || size < 0 {
			return nil, errBadResponse
		}
		if size == 0 {
			l.wstate = wTrailers
			l.trailers = l.trailers[:0]
		} else {
			l.left, l.wstate = size, wChunkData
		}
	case wChunkEnd:
		if len(line) != 0 {
			return nil, errBadResponse
		}
		l.wstate = wChunkSize
	case wTrailers:
		if len(line) == 0 {
			l.wstate = wDone
			return rest, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && len(name) > 0 {
			if len(l.trailers) == 0 {
				l.trailers = h2conn.AppendBlockStart(l.trailers)
			}
			lowerInPlace(name)
			if !isConnHeader(name) {
				l.trailers = h2conn.AppendField(l.trailers, name, bytes.TrimSpace(value))
			}
		}
	}
	return rest, nil
}

var crlf, crlfcrlf = []byte("\r\n"), []byte("\r\n\r\n")

// parseHead converts a response head to a header block and sets the body framing. head is
// not modified.
func (l *lane) parseHead(head []byte) error {
	line, rest, _ := bytes.Cut(head, crlf)
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return errBadResponse
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 {
		return errBadResponse
	}
	if status < 200 {
		return nil // 100 Continue, 103 Early Hints: not relayed
	}
	b := h2conn.AppendStatus(h2conn.AppendBlockStart(l.block[:0]), status)
	length, chunked := int64(-1), false
	for len(rest) > 0 {
		var f []byte
		f, rest, _ = bytes.Cut(rest, crlf)
		if len(f) == 0 {
			break
		}
		colon := bytes.IndexByte(f, ':')
		if colon < 0 {
			return errBadResponse
		}
		l.name = append(l.name[:0], f[:colon]...)
		lowerInPlace(l.name)
		name, value := l.name, bytes.TrimSpace(f[colon+1:])
		switch string(name) {
		case "transfer-encoding":
			chunked = true
			continue
		case "content-length":
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 {
				return errBadResponse
			}
			length = n
		}
		if isConnHeader(name) {
			continue
		}
		b = h2conn.AppendField(b, name, value)
	}
	l.block = b
	l.sentHead = false
	switch {
	case l.method == "HEAD" || status == 204 || status == 304:
		l.wstate = wDone
	case chunked:
		l.wstate, l.wmode = wChunkSize, bodyChunked
	case length >= 0:
		l.wstate, l.wmode, l.left = wBody, bodyLength, length
		if length == 0 {
			l.wstate = wDone
		}
	default:
		l.wstate, l.wmode = wBody, bodyUntilClose
	}
	return nil
}

// emit writes what parse gathered to st and flushes; the stream ends with the response.
func (l *lane) emit(st *h2conn.Stream) error {
	done := l.wstate == wDone
	var err error
	if len(l.block) > 0 && !l.sentHead && (!done || len(l.trailers) == 0) {
		// The head with the body gathered so far (a small response: all of it).
		l.sentHead = true
		err = st.WriteResponse(l.block, l.data, done)
		l.block, l.data = l.block[:0], l.data[:0]
	} else {
		err = l.emitParts(st, done)
	}
	if err != nil {
		l.ws = nil
		l.wstate = wDone
		return err
	}
	if done {
		l.ws = nil
		l.respDone.Store(true)
		l.d.idleLane(l)
	}
	return nil
}

// emitParts writes the head (if not sent), the body gathered and, once done, the trailers
// (or the end of the stream), then flushes.
func (l *lane) emitParts(st *h2conn.Stream, done bool) error {
	var err error
	if len(l.block) > 0 && !l.sentHead {
		l.sentHead = true
		err = st.WriteHeaders(l.block, done && len(l.data) == 0 && len(l.trailers) == 0)
		l.block = l.block[:0]
	}
	if err == nil && (len(l.data) > 0 || done && len(l.trailers) == 0 && !st.Ended()) {
		err = st.WriteData(l.data, done && len(l.trailers) == 0)
		l.data = l.data[:0]
	}
	if err == nil && done && len(l.trailers) > 0 {
		err = st.WriteHeaders(l.trailers, true)
		l.trailers = l.trailers[:0]
	}
	if ferr := st.FlushBurst(); err == nil {
		err = ferr
	}
	return err
}

func lowerInPlace(b []byte) {
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
}

func isConnHeader(name []byte) bool {
	switch string(name) {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te":
		return true
	}
	return false
}

// Close implements net.Conn: the lane ends; a response cut short resets its stream (a body
// delimited by the close ends it).
func (l *lane) Close() error {
	if l.closed.Swap(true) {
		return nil
	}
	l.wmu.Lock()
	if st := l.ws; st != nil {
		if l.wstate == wBody && l.wmode == bodyUntilClose {
			l.wstate = wDone
			l.emit(st)
		} else {
			st.Reset(http2.ErrCodeInternal)
		}
		l.ws = nil
	}
	l.wmu.Unlock()
	if st := l.reading.Load(); st != nil && !l.respDone.Load() {
		st.Reset(http2.ErrCodeInternal)
	}
	l.d.laneGone(l)
	return nil
}

// SetReadDeadline implements net.Conn. A deadline in the past wakes a waiting read.
func (l *lane) SetReadDeadline(t time.Time) error {
	if t.IsZero() {
		l.readDL.Store(0)
		return nil
	}
	l.readDL.Store(t.UnixNano())
	if !t.After(time.Now()) {
		select {
		case l.intr <- struct{}{}:
		default:
		}
		if st := l.reading.Load(); st != nil {
			st.Interrupt()
		}
	}
	return nil
}

// SetWriteDeadline implements net.Conn: writes are bounded by the HTTP/2 connection's own.
func (l *lane) SetWriteDeadline(time.Time) error { return nil }

func (l *lane) SetDeadline(t time.Time) error { return l.SetReadDeadline(t) }

func (l *lane) LocalAddr() net.Addr  { return l.local }
func (l *lane) RemoteAddr() net.Addr { return l.remote }

// Secure marks the lane's requests as arrived over TLS for net/http (see isSecure).
func (l *lane) Secure() bool { return true }
