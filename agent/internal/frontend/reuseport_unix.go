//go:build unix

package frontend

import (
	"context"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// reusePort sets SO_REUSEPORT on a listener's socket before it binds (Config.ReusePort).
func reusePort(_, _ string, c syscall.RawConn) error {
	var serr error
	if err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}); err != nil {
		return err
	}
	return serr
}

// BindReusePort binds another listening socket on addr (a bound address, with its port)
// with SO_REUSEPORT and returns it as a file, for a worker process: the kernel spreads new
// connections over every socket of the port's group. The socket stays in the group, its
// accept queue intact, for as long as any process holds the file open.
func BindReusePort(addr string) (*os.File, error) {
	lc := net.ListenConfig{Control: reusePort}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer ln.Close() // the file is a duplicate that keeps the socket open
	return ln.(*net.TCPListener).File()
}
