package frontend

import (
	"net"
	"net/http"

	"golang.org/x/net/http2"

	"github.com/edgeplane/edgeplane/agent/internal/h2guard"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
)

// newHTTP2 returns the HTTP/2 server, configured on h (its limits, timeouts and ConnState
// hook; h.Shutdown starts the graceful shutdown of its connections). It advertises and
// enforces the frame size h2guard inspects, so a larger HEADERS frame is the connection
// error FRAME_SIZE_ERROR (RFC 9113 4.2), not a frame Go's default 1 MiB limit accepts.
func newHTTP2(h *http.Server) *http2.Server {
	h2 := &http2.Server{MaxReadFrameSize: h2guard.MaxFrameSize}
	if err := http2.ConfigureServer(h, h2); err != nil {
		panic(err) // only for a TLSConfig with cipher suites; h has none
	}
	return h2
}

// serveHTTP2 serves an HTTP/2 connection (TLS, ALPN "h2") until it ends.
func (s *Server) serveHTTP2(c net.Conn) {
	defer s.closed(true)
	if !s.trackHTTP2(c, true) {
		c.Close()
		return
	}
	defer s.trackHTTP2(c, false)
	s.h2.ServeConn(h2guard.New(c, s.limits.MaxHeaderBytes), &http2.ServeConnOpts{
		Context:    proxy.WithSecure(s.abort),
		BaseConfig: s.h,
		Handler:    s.cfg.Proxy,
	})
}

// trackHTTP2 adds c to the HTTP/2 connections Shutdown closes at its deadline (unless
// Shutdown began), or removes it.
func (s *Server) trackHTTP2(c net.Conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !add {
		delete(s.h2conns, c)
		return true
	}
	if s.closing {
		return false
	}
	s.h2conns[c] = struct{}{}
	return true
}
