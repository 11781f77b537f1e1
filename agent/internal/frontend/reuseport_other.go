//go:build !unix

package frontend

import (
	"errors"
	"syscall"
)

// reusePort fails: SO_REUSEPORT is a Unix socket option (Config.ReusePort).
func reusePort(_, _ string, _ syscall.RawConn) error {
	return errors.New("--reuse-port needs a Unix system (SO_REUSEPORT)")
}
