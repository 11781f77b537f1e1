package frontend

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/h2conn"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
)

// Shutdown stops accepting, closes idle connections, lets requests in flight finish and
// then closes their connections, until ctx is done; it then closes whatever is left,
// including connections taken over by upgrades (WebSocket), which are otherwise left open
// until then. It returns ctx's error if it had to cut connections, else nil.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	conns := make([]*proxy.Conn, 0, len(s.conns))
	for pc := range s.conns {
		conns = append(conns, pc)
	}
	h2s := make([]*h2conn.Conn, 0, len(s.h2conns))
	for hc := range s.h2conns {
		h2s = append(h2s, hc)
	}
	s.mu.Unlock()
	for _, hc := range h2s {
		hc.Drain()
	}
	// Connections learn of the drain before the listeners close: whoever sees a closed
	// listener (a client, a load balancer's probe) must find every answer after it saying
	// Connection: close.
	for _, pc := range conns {
		pc.Drain()
	}
	for _, ln := range []net.Listener{s.httpLn, s.httpsLn} {
		if ln != nil {
			ln.Close()
		}
	}
	var drained sync.WaitGroup
	drained.Add(3)
	go func() { defer drained.Done(); s.wg.Wait() }()
	var hErr, laneErr error
	go func() { defer drained.Done(); hErr = s.h.Shutdown(ctx) }()
	go func() { defer drained.Done(); laneErr = s.laneHTTP.Shutdown(ctx) }()
	done := make(chan struct{})
	go func() { drained.Wait(); close(done) }()
	var err error
	select {
	case <-done:
		err = errors.Join(hErr, laneErr)
	case <-ctx.Done():
		err = ctx.Err()
	}
	if err == nil {
		err = s.waitUpgraded(ctx)
	}
	s.stop()
	s.closeAll()
	s.handoff.Close()
	s.laneHTTPln.Close()
	s.cfg.Proxy.CloseUpgraded()
	s.accepted.Wait()
	return err
}

// waitUpgraded waits until no upgraded connection is open or ctx is done.
func (s *Server) waitUpgraded(ctx context.Context) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for s.cfg.Proxy.Upgraded() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func (s *Server) closeAll() {
	s.mu.Lock()
	for pc := range s.conns {
		pc.Close()
	}
	for hc := range s.h2conns {
		hc.Close()
	}
	s.mu.Unlock()
	s.h.Close()
	s.laneHTTP.Close()
}

// chanListener is a net.Listener whose connections are pushed to it: the way connections
// reach the net/http server.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
