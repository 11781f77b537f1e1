package proxy

import (
	"bytes"
	"cmp"
	"errors"
	"net"
)

// maxHeadBytes bounds a request or response head on the fast path.
const maxHeadBytes = 64 << 10

var errHeadTooLarge = errors.New("message head too large")

// rbuf is a read buffer over a connection: b[r:w] has been read and not consumed yet. It is
// owned by one goroutine.
type rbuf struct {
	b    []byte
	r, w int
	max  int // largest head; 0 means maxHeadBytes
}

func (b *rbuf) buffered() []byte { return b.b[b.r:b.w] }

func (b *rbuf) consume(n int) {
	b.r += n
	if b.r == b.w {
		b.r, b.w = 0, 0
	}
}

// fill reads once from c into the free space, making room first (moving unread bytes to
// the front, or doubling the buffer up to its max when it holds one incomplete head).
func (b *rbuf) fill(c net.Conn) (int, error) {
	if b.w == len(b.b) {
		limit := cmp.Or(b.max, maxHeadBytes)
		switch {
		case b.r > 0:
			b.w = copy(b.b, b.b[b.r:b.w])
			b.r = 0
		case len(b.b) < limit:
			nb := make([]byte, min(2*len(b.b), limit))
			b.w = copy(nb, b.b[b.r:b.w])
			b.r, b.b = 0, nb
		default:
			return 0, errHeadTooLarge
		}
	}
	n, err := c.Read(b.b[b.w:])
	b.w += n
	return n, err
}

// grow makes the buffer at least n bytes, keeping the unread bytes.
func (b *rbuf) grow(n int) {
	if len(b.b) >= n {
		return
	}
	nb := make([]byte, n)
	b.w = copy(nb, b.b[b.r:b.w])
	b.r, b.b = 0, nb
}

// headEnd returns the length of the complete head at the start of the buffered bytes
// (through the empty line), or 0 if it has not arrived yet.
func (b *rbuf) headEnd() int {
	if i := bytes.Index(b.buffered(), crlfcrlf); i >= 0 {
		return i + 4
	}
	return 0
}

var crlfcrlf = []byte("\r\n\r\n")

// prefixConn replays bytes already read from a connection before reading from it again. It
// hands a connection the fast path started reading to net/http.
type prefixConn struct {
	net.Conn
	prefix []byte
	secure bool
}

func (c *prefixConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Secure reports whether the connection arrived over TLS (net/http sees only a net.Conn).
func (c *prefixConn) Secure() bool { return c.secure }
