package proxy

import (
	"errors"
	"math/rand/v2"
	"net"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/internal/tracectx"
)

const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

// backendSlots is how many backend connections a client connection keeps for itself
// between requests, so keep-alive traffic touches no shared pool.
const backendSlots = 4

// Conn is one client connection on the fast HTTP/1.1 path. Create it with NewConn and call
// Serve once; Drain and Close may be called from other goroutines.
type Conn struct {
	p      *Proxy
	c      net.Conn
	io     net.Conn // c, with raw reads and writes when it is plain TCP (see rawTCP)
	secure bool
	ip     string // client IP
	fwdFor string // RFC 7239 for= value of ip

	state    atomic.Int32
	draining atomic.Bool

	readBy, writeBy int64 // the read and write deadlines last set (Unix ns; 0: unknown)

	rb       rbuf
	req      request
	resp     response
	reqOut   []byte // outgoing request head
	out      []byte // outgoing response bytes
	backends [backendSlots]*bconn
	watch    *watcher // running while a backend is slow to answer
	paths    pathBufs // path normalization scratch
	fwdPath  []byte   // normalized path of the current request, forwarded

	rng     *rand.ChaCha8    // span and trace ids
	sc      tracectx.Context // the agent's span of the current request
	x       exchange         // what the current request's record needs
	written int64            // bytes written to the client for the current request

	// Clock readings reused instead of reading the clock again (see fresh): when the
	// current request ended (serveRequest), when fillBackend last began a read it did not
	// have to watch the client for (at most watchDelay before that read's answer).
	ended, readAt time.Time
	recBuf        []byte // the current request's encoded record
}

// NewConn prepares the fast path for client connection c; secure says it arrived over TLS.
func (p *Proxy) NewConn(c net.Conn, secure bool) *Conn {
	ip := clientIP(c.RemoteAddr().String())
	return &Conn{p: p, c: c, io: rawConn(c), secure: secure, ip: ip, fwdFor: forwardedFor(ip),
		rb: rbuf{b: make([]byte, 4<<10), max: p.limits.MaxHeaderBytes}, rng: newRand()}
}

// Serve serves requests on the connection until the client closes it, an error, or Drain.
// It returns nil after closing the connection, or, when a request needs net/http (see
// parseRequest), a net.Conn that replays what was read: the caller hands it to an
// http.Server whose handler is the Proxy.
func (c *Conn) Serve() (handoff net.Conn) {
	defer c.releaseBackends()
	now := time.Now()
	for {
		if !c.idle() {
			break
		}
		end, err := c.readHead(now)
		if err != nil {
			if errors.Is(err, errHeadTooLarge) {
				c.refuse(http.StatusRequestHeaderFieldsTooLarge)
			}
			break
		}
		if !c.state.CompareAndSwap(stateIdle, stateActive) {
			break // closed by Drain
		}
		if end < 0 {
			return c.handoff()
		}
		switch v := parseRequest(c.rb.b[c.rb.r:c.rb.r+end], c.p.reqActions, &c.p.limits, &c.req); v {
		case reqHandoff:
			return c.handoff()
		case reqParsed:
		default:
			c.refuse(v)
			c.c.Close()
			return nil
		}
		c.rb.consume(end)
		if !c.serveRequest(end) {
			break
		}
		now = c.ended
		if len(c.rb.buffered()) == 0 {
			runtime.Gosched()
		}
	}
	c.c.Close()
	return nil
}

// refuse answers a request the fast path will not serve with status and a closing
// connection: the rest of what the client sent cannot be trusted to be framed right.
func (c *Conn) refuse(status int) {
	c.req.method = ""
	c.sc = span(nil, c.rng)
	c.reply(status, refusalBody(status), nil, true)
	c.p.noRoute.Observe(status, 0)
}

// idle marks the connection idle between requests; false means it is draining.
func (c *Conn) idle() bool {
	c.state.Store(stateIdle)
	return !c.draining.Load()
}

// readHead reads until the buffer holds a complete request head and returns its length, or
// -1 for a head net/http must parse (bare LF line endings). now is the time.
func (c *Conn) readHead(now time.Time) (int, error) {
	setWithin(&c.readBy, now, c.p.limits.IdleTimeout, c.c.SetReadDeadline)
	started := false
	for {
		if end := c.rb.headEnd(); end > 0 {
			return end, nil
		}
		if b := c.rb.buffered(); len(b) > 0 {
			if hasBareLFHead(b) {
				return -1, nil
			}
			if !started {
				started = true
				c.readWithin(c.p.limits.HeaderTimeout)
			}
		}
		if _, err := c.rb.fill(c.io); err != nil {
			return 0, err
		}
	}
}

// hasBareLFHead reports whether b holds a head ending in LF LF (no CR).
func hasBareLFHead(b []byte) bool {
	for i := 1; i < len(b); i++ {
		if b[i] == '\n' && b[i-1] == '\n' {
			return true
		}
	}
	return false
}

// handoff returns the connection for net/http, replaying the unread bytes.
func (c *Conn) handoff() net.Conn {
	c.c.SetReadDeadline(time.Time{})
	prefix := append([]byte(nil), c.rb.buffered()...)
	return &prefixConn{Conn: c.c, prefix: prefix, secure: c.secure}
}

// write writes b to the client within the write timeout, counting the bytes for the
// request record.
func (c *Conn) write(b []byte) (int, error) { return c.writeAt(b, time.Now()) }

// writeAt is write with the time now (see fresh).
func (c *Conn) writeAt(b []byte, now time.Time) (int, error) {
	setWithin(&c.writeBy, now, c.p.limits.WriteTimeout, c.c.SetWriteDeadline)
	n, err := c.io.Write(b)
	c.written += int64(n)
	return n, err
}

// readWithin makes the next reads from the client fail after timeout (see setWithin).
func (c *Conn) readWithin(timeout time.Duration) {
	setWithin(&c.readBy, time.Now(), timeout, c.c.SetReadDeadline)
}

// fresh returns the time fillBackend last read while the client was not being watched:
// then the response being relayed arrived at most watchDelay after it, which deadlines of
// seconds and keep-alive bookkeeping do not notice. Otherwise (a slow backend, a watcher
// running) it reads the clock.
func (c *Conn) fresh() time.Time {
	if c.watch != nil || c.readAt.IsZero() {
		return time.Now()
	}
	return c.readAt
}

// setWithin sets a deadline timeout from now through set, unless the one last set (*by) is
// no later than that and less than a sixteenth of timeout earlier: then the operation
// times out after 15/16 to 16/16 of timeout. A busy keep-alive connection so re-arms the
// runtime timer behind each deadline about once per sixteenth of the timeout instead of on
// every request. Whoever sets the deadline another way must zero *by.
func setWithin(by *int64, now time.Time, timeout time.Duration, set func(time.Time) error) {
	d := now.Add(timeout)
	want := d.UnixNano()
	if *by <= want && *by > want-int64(timeout/16) {
		return
	}
	*by = want
	set(d)
}

// Drain makes the connection close after its current request, or at once if it is idle.
func (c *Conn) Drain() {
	c.draining.Store(true)
	if c.state.CompareAndSwap(stateIdle, stateClosed) {
		c.c.Close()
	}
}

// Close closes the connection now, aborting any request in progress.
func (c *Conn) Close() { c.state.Store(stateClosed); c.c.Close() }

// backend returns a connection to t: one this client connection kept, else an idle one
// from t's pool, else a new one. A kept or pooled connection is first checked for a close
// by the backend when it sat idle over a second, or always when check is set (a request
// that cannot be sent twice). reused says it carried requests before.
func (c *Conn) backend(t *target, now time.Time, fresh, check bool) (bc *bconn, reused bool, err error) {
	if !fresh {
		for i, bc := range c.backends {
			if bc != nil && bc.pool == t.pool {
				c.backends[i] = nil
				if now.Sub(bc.lastUsed) < t.pool.key.timeouts.idle && (!check || !bc.closedByPeer()) {
					return bc, true, nil
				}
				bc.conn.Close()
			}
		}
		for bc := t.pool.get(now); bc != nil; bc = t.pool.get(now) {
			if (!check && now.Sub(bc.lastUsed) < time.Second) || !bc.closedByPeer() {
				return bc, true, nil
			}
			bc.conn.Close()
		}
	}
	bc, err = t.pool.dial()
	return bc, false, err
}

// keepBackend keeps bc for this client's next request, returning a displaced connection to
// its pool.
func (c *Conn) keepBackend(bc *bconn, now time.Time) {
	bc.lastUsed = now
	for i, old := range c.backends {
		if old == nil {
			c.backends[i] = bc
			return
		}
	}
	c.backends[0].pool.put(c.backends[0])
	c.backends[0] = bc
}

func (c *Conn) releaseBackends() {
	for i, bc := range c.backends {
		if bc != nil {
			bc.pool.put(bc)
			c.backends[i] = nil
		}
	}
}
