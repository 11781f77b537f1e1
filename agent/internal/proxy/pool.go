package proxy

import (
	"context"
	"crypto/tls"
	"net"
	"sync"
	"syscall"
	"time"
)

// maxIdlePerPool bounds the idle connections a pool keeps for one backend.
const maxIdlePerPool = 1024

// poolKey identifies the backend connections the fast path can share.
type poolKey struct {
	secure   bool
	addr     string // dial address
	host     string // TLS server name
	timeouts transportKey
}

// pools keeps one pool per poolKey across tables, so a config change does not drop the
// connections to backends.
type pools struct {
	mu sync.Mutex // guards m
	m  map[poolKey]*pool
}

func newPools() *pools { return &pools{m: make(map[poolKey]*pool)} }

func (ps *pools) get(k poolKey) *pool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p := ps.m[k]
	if p == nil {
		p = newPool(k)
		ps.m[k] = p
	}
	return p
}

// current reports whether every pool of up is still open (a route reused from an older
// table must not keep a closed pool).
func (ps *pools) current(up *upstream) bool {
	if up == nil {
		return true
	}
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, t := range up.targets {
		if ps.m[t.pool.key] != t.pool {
			return false
		}
	}
	return true
}

// retain closes the pools whose key is not in used. Connections in use finish their
// request and are then closed instead of pooled.
func (ps *pools) retain(used map[poolKey]bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for k, p := range ps.m {
		if !used[k] {
			p.close()
			delete(ps.m, k)
		}
	}
}

// pool holds idle HTTP/1.1 connections to one backend address.
type pool struct {
	key    poolKey
	dialer net.Dialer
	tls    *tls.Config // nil for http

	mu     sync.Mutex // guards idle and closed
	idle   []*bconn   // most recently used last
	closed bool
}

func newPool(k poolKey) *pool {
	p := &pool{key: k, dialer: net.Dialer{Timeout: k.timeouts.connect, KeepAlive: 30 * time.Second}}
	if k.secure {
		p.tls = &tls.Config{ServerName: k.host, NextProtos: []string{"http/1.1"}, ClientSessionCache: tls.NewLRUClientSessionCache(64)}
	}
	return p
}

// bconn is one connection to a backend, owned by one client connection at a time.
type bconn struct {
	conn     net.Conn
	io       net.Conn // conn, with raw reads and writes when it is plain TCP (see rawTCP)
	pool     *pool
	rb       rbuf
	lastUsed time.Time
	deadline time.Time // the read deadline last set
}

// get returns the most recently used idle connection that has not been idle longer than
// the pool's idle timeout, or nil.
func (p *pool) get(now time.Time) *bconn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle) > 0 {
		bc := p.idle[len(p.idle)-1]
		p.idle = p.idle[:len(p.idle)-1]
		if now.Sub(bc.lastUsed) < p.key.timeouts.idle {
			return bc
		}
		bc.conn.Close()
	}
	return nil
}

// put returns bc to the pool, or closes it if the pool is closed or full.
func (p *pool) put(bc *bconn) {
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerPool {
		p.mu.Unlock()
		bc.conn.Close()
		return
	}
	p.idle = append(p.idle, bc)
	p.mu.Unlock()
}

func (p *pool) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for _, bc := range p.idle {
		bc.conn.Close()
	}
	p.idle = nil
}

// dial opens a new connection, within the connect timeout including the TLS handshake.
func (p *pool) dial() (*bconn, error) {
	c, err := p.dialer.Dial("tcp", p.key.addr)
	if err != nil {
		return nil, err
	}
	if p.tls != nil {
		tc := tls.Client(c, p.tls)
		ctx, cancel := context.WithTimeout(context.Background(), p.key.timeouts.connect)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.Close()
			return nil, &net.OpError{Op: "dial", Net: "tcp", Addr: c.RemoteAddr(), Err: err}
		}
		c = tc
	}
	return &bconn{conn: c, io: rawConn(c), pool: p, rb: rbuf{b: make([]byte, 4<<10)}}, nil
}

// closedByPeer reports whether an idle plain-TCP connection has been closed by the backend
// (or has unexpected bytes waiting), without blocking: a peek with MSG_DONTWAIT.
func (bc *bconn) closedByPeer() bool {
	tc, ok := bc.conn.(*net.TCPConn)
	if !ok {
		return false
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return true
	}
	var n int
	var rerr error
	var b [1]byte
	if err := rc.Read(func(fd uintptr) bool {
		n, _, rerr = syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return true
	}
	return n > 0 || rerr == nil || rerr != syscall.EAGAIN
}

// setReadDeadline sets the read deadline unless it is already d.
func (bc *bconn) setReadDeadline(d time.Time) {
	if !d.Equal(bc.deadline) {
		bc.deadline = d
		bc.conn.SetReadDeadline(d)
	}
}
