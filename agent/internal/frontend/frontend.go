// Package frontend runs the agent's client-facing listeners: plain HTTP and HTTPS (TLS 1.2+
// with certificates chosen by SNI, ALPN h2 and http/1.1), optionally behind the PROXY
// protocol. HTTP/1.1 connections are served by the proxy's fast path; requests the fast path
// hands over by a net/http server with the proxy as its handler; HTTP/2 connections by
// h2conn, each request on the fast path too (see lanes). Shutdown drains all of them.
package frontend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	proxyproto "github.com/pires/go-proxyproto"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeplane/edgeplane/agent/internal/h2conn"
	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
)

// HandshakeTimeout bounds a TLS handshake (and reading a PROXY protocol header).
const HandshakeTimeout = 10 * time.Second

// Config configures a Server.
type Config struct {
	// Proxy serves the requests. Required.
	Proxy *proxy.Proxy
	// HTTPAddr and HTTPSAddr are the listen addresses; "" disables a listener.
	HTTPAddr, HTTPSAddr string
	// ProxyProtocol requires a PROXY protocol (v1 or v2) header on every connection of
	// both listeners from ProxyProtocolFrom; the client address it carries is the one the
	// proxy forwards. Connections from elsewhere are served without one (a PROXY header
	// from them closes the connection). Listen fails if ProxyProtocolFrom is empty.
	ProxyProtocol bool
	// ProxyProtocolFrom are the CIDR ranges (or single IPs) of the balancers trusted to
	// send PROXY headers.
	ProxyProtocolFrom []string
	// ReusePort binds the listeners with SO_REUSEPORT, so that other processes doing the
	// same (more agents on the host, using more cores) may listen on the same addresses;
	// the kernel spreads new connections among them. When one closes its listener, the
	// connections waiting in its accept queue are reset (Linux's SO_REUSEPORT): a takeover
	// by a new agent is not hitless.
	ReusePort bool
	// Metrics receives the open-connections gauges. Nil uses a private set.
	Metrics *metrics.Metrics
	// Logger receives listener errors. Nil discards.
	Logger *slog.Logger
}

// Server is the agent's listeners. Listen, then Serve; Shutdown ends Serve.
type Server struct {
	cfg     Config
	log     *slog.Logger
	tls     *tls.Config
	httpLn  net.Listener
	httpsLn net.Listener
	h       *http.Server // serves handed-over HTTP/1.x connections
	handoff *chanListener
	// laneHTTP serves the requests lanes hand over (see lanes): one per lane, which is no
	// client connection of its own (not counted).
	laneHTTP   *http.Server
	laneHTTPln *chanListener
	gauges     [2]prometheus.Gauge // http, https

	// abort is cancelled when Shutdown gives up draining; it ends TLS handshakes still in
	// progress. A context kept in a struct, against STYLE on purpose: it is the server's
	// lifetime, not a request's, and tls.Conn.HandshakeContext takes a context; deriving
	// each handshake's from it costs no goroutine per connection, where a channel would.
	abort context.Context
	stop  context.CancelFunc

	limits proxy.Limits
	open   atomic.Int64 // client connections being served; with upgraded ones, at most limits.MaxConns

	mu       sync.Mutex // guards conns, h2conns and closing
	conns    map[*proxy.Conn]struct{}
	h2conns  map[*h2conn.Conn]struct{}
	closing  bool
	wg       sync.WaitGroup // connection goroutines
	accepted sync.WaitGroup // accept loops
}

// New returns a Server; it opens nothing until Listen.
func New(cfg Config) *Server {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = metrics.New()
	}
	s := &Server{cfg: cfg, log: log, tls: cfg.Proxy.TLSConfig(), conns: make(map[*proxy.Conn]struct{}),
		h2conns: make(map[*h2conn.Conn]struct{}),
		gauges:  [2]prometheus.Gauge{m.Connections("http"), m.Connections("https")}}
	s.abort, s.stop = context.WithCancel(context.Background())
	s.handoff, s.laneHTTPln = newChanListener(), newChanListener()
	s.limits = cfg.Proxy.Limits()
	s.h = s.newHTTPServer()
	s.laneHTTP = s.newHTTPServer()
	s.laneHTTP.ConnState = proxy.IdleConnState
	return s
}

// newHTTPServer returns a net/http server with the proxy as its handler and its limits.
func (s *Server) newHTTPServer() *http.Server {
	return &http.Server{
		Handler:           s.cfg.Proxy,
		ReadHeaderTimeout: s.limits.HeaderTimeout,
		IdleTimeout:       s.limits.IdleTimeout,
		MaxHeaderBytes:    max(s.limits.MaxHeaderBytes-4096, 1), // net/http allows 4 KiB more
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			if isSecure(c) {
				return proxy.WithSecure(ctx)
			}
			return ctx
		},
		ConnState: func(c net.Conn, st http.ConnState) {
			proxy.IdleConnState(c, st)
			if st == http.StateClosed || st == http.StateHijacked {
				s.closed(isSecure(c))
			}
		},
	}
}

func isSecure(c net.Conn) bool {
	switch c.(type) {
	case *tls.Conn, *lane:
		return true
	}
	sc, ok := c.(interface{ Secure() bool })
	return ok && sc.Secure()
}

// closed counts a client connection as no longer served.
func (s *Server) closed(secure bool) {
	s.gauge(secure).Dec()
	s.open.Add(-1)
}

func (s *Server) gauge(secure bool) prometheus.Gauge {
	if secure {
		return s.gauges[1]
	}
	return s.gauges[0]
}

// Listen binds the configured listeners.
func (s *Server) Listen() error {
	var err error
	if s.httpLn, err = s.listen(s.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("HTTP listener: %w", err)
	}
	if s.httpsLn, err = s.listen(s.cfg.HTTPSAddr); err != nil {
		if s.httpLn != nil {
			s.httpLn.Close()
		}
		return fmt.Errorf("HTTPS listener: %w", err)
	}
	return nil
}

func (s *Server) listen(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	policy, err := s.proxyPolicy()
	if err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	if s.cfg.ReusePort {
		lc.Control = reusePort
	}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, err
	}
	return s.wrap(ln, policy), nil
}

// proxyPolicy returns the PROXY protocol policy of the configuration; nil without it.
func (s *Server) proxyPolicy() (proxyproto.ConnPolicyFunc, error) {
	if !s.cfg.ProxyProtocol {
		return nil, nil
	}
	if len(s.cfg.ProxyProtocolFrom) == 0 {
		return nil, errors.New("the PROXY protocol needs the balancers' addresses: pass --proxy-protocol-from with their CIDR ranges")
	}
	policy, err := proxyproto.PolicyFromRanges(s.cfg.ProxyProtocolFrom, proxyproto.REQUIRE, proxyproto.REJECT)
	if err != nil {
		return nil, fmt.Errorf("--proxy-protocol-from: %w", err)
	}
	return policy, nil
}

// wrap puts a PROXY protocol reader in front of ln when policy is set.
func (s *Server) wrap(ln net.Listener, policy proxyproto.ConnPolicyFunc) net.Listener {
	if policy == nil {
		return ln
	}
	return &proxyproto.Listener{Listener: ln, ReadHeaderTimeout: HandshakeTimeout, ConnPolicy: policy}
}

// Adopt uses listeners bound elsewhere (a worker's, bound by the agent that started it)
// instead of binding HTTPAddr and HTTPSAddr; either may be nil. It replaces Listen.
func (s *Server) Adopt(httpLn, httpsLn net.Listener) error {
	policy, err := s.proxyPolicy()
	if err != nil {
		return err
	}
	if httpLn != nil {
		s.httpLn = s.wrap(httpLn, policy)
	}
	if httpsLn != nil {
		s.httpsLn = s.wrap(httpsLn, policy)
	}
	return nil
}

// HTTPAddr returns the bound HTTP address ("" if disabled). Valid after Listen.
func (s *Server) HTTPAddr() string { return addrOf(s.httpLn) }

// HTTPSAddr returns the bound HTTPS address ("" if disabled). Valid after Listen.
func (s *Server) HTTPSAddr() string { return addrOf(s.httpsLn) }

func addrOf(ln net.Listener) string {
	if ln == nil {
		return ""
	}
	return ln.Addr().String()
}

// Serve accepts connections until Shutdown and returns nil then, or an error if a
// listener fails.
func (s *Server) Serve() error {
	errc := make(chan error, 4)
	for _, hs := range []struct {
		h  *http.Server
		ln net.Listener
	}{{s.h, s.handoff}, {s.laneHTTP, s.laneHTTPln}} {
		go func() {
			if err := hs.h.Serve(hs.ln); !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("net/http server: %w", err)
			}
		}()
	}
	if !s.startAccepting(errc) {
		return nil
	}
	done := make(chan struct{})
	go func() { s.accepted.Wait(); close(done) }()
	select {
	case err := <-errc:
		return err
	case <-done:
		return nil
	}
}

// startAccepting starts an accept loop per listener, unless Shutdown began. It adds to
// s.accepted under mu, so never after Shutdown started waiting on it.
func (s *Server) startAccepting(errc chan<- error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	for _, l := range []struct {
		ln     net.Listener
		secure bool
	}{{s.httpLn, false}, {s.httpsLn, true}} {
		if l.ln == nil {
			continue
		}
		s.accepted.Add(1)
		go func() {
			defer s.accepted.Done()
			if err := s.accept(l.ln, l.secure); err != nil {
				errc <- err
			}
		}()
	}
	return true
}

func (s *Server) accept(ln net.Listener, secure bool) error {
	for delay := time.Duration(0); ; {
		c, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, proxyproto.ErrNoProxyProtocol) {
				continue
			}
			// Out of file descriptors and the like: back off as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn("accept failed; retrying", "addr", ln.Addr().String(), "error", err, "retry_in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		if s.open.Load()+int64(s.cfg.Proxy.Upgraded()) >= int64(s.limits.MaxConns) {
			c.Close() // over --max-conns: as nginx past worker_connections
			continue
		}
		if !s.add() {
			c.Close()
			return nil
		}
		s.open.Add(1)
		go s.serveConn(c, secure)
	}
}

// add counts a new connection goroutine unless Shutdown began (under mu, so Shutdown's
// Wait never races with an Add).
func (s *Server) add() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Server) isClosing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closing
}

// serveConn runs one client connection: the TLS handshake, then the fast path, or net/http
// for HTTP/2 and for what the fast path hands over.
func (s *Server) serveConn(c net.Conn, secure bool) {
	defer s.wg.Done()
	s.gauge(secure).Inc()
	if secure {
		tc := tls.Server(proxy.RawConn(c), s.tls)
		ctx, cancel := context.WithTimeout(s.abort, HandshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			c.Close()
			s.closed(secure)
			return
		}
		if st := tc.ConnectionState(); st.NegotiatedProtocol == "h2" {
			if !h2Cipher(st) {
				c.Close() // as Go's HTTP/2 server, which would send GOAWAY INADEQUATE_SECURITY
				s.closed(secure)
				return
			}
			s.serveH2(tc)
			s.closed(secure)
			return
		}
		c = tc
	}
	pc := s.cfg.Proxy.NewConn(c, secure)
	if !s.track(pc) {
		c.Close()
		s.closed(secure)
		return
	}
	hc := pc.Serve()
	s.untrack(pc)
	if hc == nil {
		s.closed(secure)
		return
	}
	s.handoff.push(hc)
}

func (s *Server) track(pc *proxy.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.conns[pc] = struct{}{}
	return true
}

func (s *Server) untrack(pc *proxy.Conn) {
	s.mu.Lock()
	delete(s.conns, pc)
	s.mu.Unlock()
}

// h2MaxStreams is the SETTINGS_MAX_CONCURRENT_STREAMS of HTTP/2 connections.
const h2MaxStreams = 100

// serveH2 serves an HTTP/2 connection with h2conn, its requests on lanes.
func (s *Server) serveH2(c net.Conn) {
	d := newLanes(s, h2MaxStreams)
	hc := h2conn.New(c, h2conn.Config{MaxConcurrentStreams: h2MaxStreams, MaxHeaderListSize: uint32(s.limits.MaxHeaderBytes),
		IdleTimeout: s.limits.IdleTimeout, HeaderTimeout: s.limits.HeaderTimeout,
		BodyTimeout: s.limits.BodyTimeout, WriteTimeout: s.limits.WriteTimeout}, d)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.Close()
		return
	}
	s.h2conns[hc] = struct{}{}
	s.mu.Unlock()
	hc.Serve()
	s.mu.Lock()
	delete(s.h2conns, hc)
	s.mu.Unlock()
	d.close()
}
