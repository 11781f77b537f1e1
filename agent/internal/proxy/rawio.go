package proxy

import (
	"io"
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawChunk bounds one read or write system call of rawTCP: the goroutine holds its P
// without the runtime knowing it is in a system call for as long as that takes.
const rawChunk = 64 << 10

// rawTCP reads and writes a plain TCP connection of the fast path with raw system calls
// (syscall.RawSyscall) inside the connection's RawConn, so the netpoller still waits for
// readiness and deadlines still apply. A read or write on a non-blocking socket does not
// block, so the runtime's system call bookkeeping buys nothing here and costs much: on a
// mostly idle P every entersyscall wakes sysmon from its deep sleep and resets it to
// polling every 20 µs, and a write the kernel preempts (the peer it woke runs first) gets
// its P retaken and handed to another thread. Measured on the 2-CPU bench machine, each
// sysmon wakeup costs about as much CPU as a whole proxied request.
//
// A read after a short read cannot skip the system call and wait for the netpoller at once
// (saving the EAGAIN): each Read resets the poller's readiness first, so data that arrived
// since the short read would wait for the next arrival (TestRawUnderTLSReadAfterShortRead).
//
// Reads and writes may run concurrently (the watcher reads while relay writes); two reads
// or two writes at once are excluded by the RawConn's own locks.
type rawTCP struct {
	net.Conn
	rc syscall.RawConn

	rp   []byte // the read in progress
	rn   int
	rerr syscall.Errno
	wp   []byte // what the write in progress has left to write
	wn   int
	werr syscall.Errno

	// A write the next Read makes first (see writeOnRead): what is left of it, how much
	// was written, the error that stopped it.
	pend    []byte
	pn      int
	perr    error
	pending bool // pend is set and not finished
	stopped bool // the read callback stopped writing pend: Read finishes or fails it

	readFn, writeFn func(uintptr) bool // bound once: passing a method value allocates
}

// RawConn returns c with raw reads and writes when it is a plain TCP connection, else c.
// The frontend puts it under its TLS connections (writeOnRead is the fast path's alone).
func RawConn(c net.Conn) net.Conn { return rawConn(c) }

// rawConn returns c with raw reads and writes when it is a plain TCP connection, else c.
func rawConn(c net.Conn) net.Conn {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return c
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return c
	}
	r := &rawTCP{Conn: c, rc: rc}
	r.readFn, r.writeFn = r.read, r.write
	return r
}

func (r *rawTCP) read(fd uintptr) bool {
	if r.pending {
		return r.writePending(fd)
	}
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(unsafe.SliceData(r.rp))), uintptr(len(r.rp)))
		switch e {
		case 0:
			r.rn, r.rerr = int(n), 0
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for the netpoller
		}
		r.rn, r.rerr = 0, e
		return true
	}
}

// writeOnRead makes the next Read write p first and then wait for the answer, inside one
// wait for readiness: a request written to a backend is answered later, so reading at once
// finds nothing (EAGAIN) and costs a system call before the wait. The wait cannot miss the
// answer: the RawConn forgets an earlier readiness before the write is made, and the answer
// arrives after it. Whatever arrived before the write is read late: after the wait ends (a
// read deadline, or more arriving), so whoever reads must set a deadline. sent reports
// what was written. p must stay unchanged until then.
func (r *rawTCP) writeOnRead(p []byte) {
	r.pend, r.pn, r.perr, r.pending = p, 0, nil, len(p) > 0
}

// sent reports how much of the last writeOnRead's bytes were written, and the error that
// stopped the write; done says it finished (or failed).
func (r *rawTCP) sent() (n int, done bool, err error) {
	return r.pn, !r.pending, r.perr
}

// writePending writes the pending bytes inside a RawConn read: false (wait for the answer)
// once all are written, true when the send buffer is full (Read finishes the write) or
// on an error.
func (r *rawTCP) writePending(fd uintptr) bool {
	for len(r.pend) > 0 {
		chunk := r.pend[:min(len(r.pend), rawChunk)]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(chunk))), uintptr(len(chunk)))
		switch e {
		case 0:
			r.pn += int(n)
			r.pend = r.pend[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			r.stopped = true
			return true
		default:
			r.stopped = true
			r.pending, r.pend = false, nil
			r.perr = &net.OpError{Op: "write", Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: os.NewSyscallError("write", e)}
			return true
		}
	}
	r.pending, r.pend = false, nil
	return false
}

func (r *rawTCP) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rp = p[:min(len(p), rawChunk)]
	err := r.rc.Read(r.readFn)
	r.rp = nil
	if r.stopped {
		// The pending write stopped: a full send buffer (finished here, then read) or
		// an error (returned).
		r.stopped = false
		if err := r.finishPending(); err != nil {
			return 0, err
		}
		return r.Read(p)
	}
	switch {
	case err != nil: // closed, or the read deadline passed
		return 0, renameOp(err, "read")
	case r.rerr != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: os.NewSyscallError("read", r.rerr)}
	case r.rn == 0:
		return 0, io.EOF
	}
	return r.rn, nil
}

// finishPending writes what is left of the pending write the ordinary way (waiting for
// room under the write deadline) and returns the error that stopped it, if any.
func (r *rawTCP) finishPending() error {
	if r.perr != nil {
		return r.perr
	}
	rest := r.pend
	r.pend, r.pending = nil, false
	n, err := r.Write(rest)
	r.pn += n
	if err != nil {
		r.perr = err
	}
	return err
}

func (r *rawTCP) write(fd uintptr) bool {
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

// Write writes all of p, as net.Conn's Write does, unless an error stops it.
func (r *rawTCP) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.wp, r.wn, r.werr = p, 0, 0
	err := r.rc.Write(r.writeFn)
	n := r.wn
	r.wp = nil
	if err != nil {
		err = renameOp(err, "write")
	} else if r.werr != 0 {
		err = &net.OpError{Op: "write", Net: "tcp", Source: r.LocalAddr(), Addr: r.RemoteAddr(), Err: os.NewSyscallError("write", r.werr)}
	}
	return n, err
}

// renameOp names a RawConn's error (a *net.OpError, "raw-read" or "raw-write") as net.Conn's
// Read or Write would.
func renameOp(err error, op string) error {
	if oe, ok := err.(*net.OpError); ok {
		oe.Op = op
	}
	return err
}
