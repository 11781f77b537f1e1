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

	readFn, writeFn func(uintptr) bool // bound once: passing a method value allocates
}

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

func (r *rawTCP) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	r.rp = p[:min(len(p), rawChunk)]
	err := r.rc.Read(r.readFn)
	r.rp = nil
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
