//go:build !unix

package frontend

import (
	"errors"
	"os"
	"syscall"
)

// reusePort fails: SO_REUSEPORT is a Unix socket option (Config.ReusePort).
func reusePort(_, _ string, _ syscall.RawConn) error {
	return errors.New("--reuse-port needs a Unix system (SO_REUSEPORT)")
}

// BindReusePort fails: worker processes share a port with SO_REUSEPORT, a Unix option.
func BindReusePort(string) (*os.File, error) {
	return nil, errors.New("worker processes need a Unix system (SO_REUSEPORT)")
}
