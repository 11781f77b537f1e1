package ports

import (
	"errors"
	"net"
	"strconv"
	"syscall"
)

// localAddrs returns the IP addresses of this machine's interfaces.
func localAddrs() map[string]bool {
	out := map[string]bool{"localhost": true, "0.0.0.0": true, "::": true}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return out
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			out[ipn.IP.String()] = true
		}
	}
	return out
}

// isLocal says whether host is an address of this machine, where a busy port can be seen.
func (a *Allocator) isLocal(host string) bool {
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	return a.local[host]
}

// busy reports whether something listens on host:port (TCP): binding it fails with
// EADDRINUSE. Other bind failures (such as a privileged port) do not count: the engine may
// still bind it.
func busy(host string, port int) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return errors.Is(err, syscall.EADDRINUSE)
	}
	_ = ln.Close()
	return false
}
