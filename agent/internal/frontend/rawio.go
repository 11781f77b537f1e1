package frontend

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawChunk bounds one read or write system call of a rawTLS connection: the goroutine keeps
// its P during the call (a raw system call), so a call must not be long.
const rawChunk = 64 << 10

// rawTLS is the TCP connection under a TLS client connection: reads and writes are raw
// system calls inside the connection's RawConn (the netpoller and deadlines work as
// before, the runtime's system call bookkeeping is skipped).
//
// A read after a short read cannot skip the system call and wait for the netpoller at once
// (saving the EAGAIN): each Read resets the poller's readiness first, so data that arrived
// since the short read would wait for the next arrival (TestRawTLSReadAfterShortRead).
type rawTLS struct {
	net.Conn
	rc syscall.RawConn

	rp   []byte // the read in progress
	rn   int
	rerr syscall.Errno
	wp   []byte
	wn   int
	werr syscall.Errno

	readFn, writeFn func(uintptr) bool // bound once: a method value allocates
}

// newRawTLS returns c with raw reads and writes when it is a plain TCP connection, else c.
func newRawTLS(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawTLS{Conn: c, rc: rc}
	r.readFn, r.writeFn = r.read, r.write
	return r
}

func (r *rawTLS) read(fd uintptr) bool {
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.rp))), uintptr(len(r.rp)))
		switch e {
		case 0:
			r.rn, r.rerr = int(n), 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false
		}
		r.rn, r.rerr = 0, e
		return true
	}
}

func (r *rawTLS) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rp = p[:min(len(p), rawChunk)]
	err := r.rc.Read(r.readFn)
	r.rp = nil
	switch {
	case err != nil: // closed, or the read deadline passed
		return 0, opError("read", r.Conn, err)
	case r.rerr != 0:
		return 0, opError("read", r.Conn, os.NewSyscallError("read", r.rerr))
	case r.rn == 0:
		return 0, io.EOF
	}
	return r.rn, nil
}

func (r *rawTLS) write(fd uintptr) bool {
	for len(r.wp) > 0 {
		chunk := r.wp[:min(len(r.wp), rawChunk)]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(chunk))), uintptr(len(chunk)))
		switch e {
		case 0:
			r.wn += int(n)
			r.wp = r.wp[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false // the send buffer is full: wait for the netpoller
		default:
			r.werr = e
			return true
		}
	}
	return true
}

func (r *rawTLS) Write(p []byte) (int, error) {
	r.wp, r.wn, r.werr = p, 0, 0
	err := r.rc.Write(r.writeFn)
	n := r.wn
	r.wp = nil
	switch {
	case err != nil:
		return n, opError("write", r.Conn, err)
	case r.werr != 0:
		return n, opError("write", r.Conn, os.NewSyscallError("write", r.werr))
	}
	return n, nil
}

// opError is err as net.Conn's Read and Write return it (a deadline's error stays a
// net.Error whose Timeout is true).
func opError(op string, c net.Conn, err error) error {
	if oe, ok := err.(*net.OpError); ok {
		err = oe.Err
	}
	return &net.OpError{Op: op, Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}
