package proxy

import (
	"bufio"
	"net"
	"net/http"
	"sync"
)

// statusWriter records the status of a response written through it (the net/http path).
type statusWriter struct {
	http.ResponseWriter
	code    int
	written int64        // body bytes written
	rq      *httpRequest // the request's trace state
	dw      deadlineWriter
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 || w.code < 200 && code >= 200 {
		w.code = code
	}
	w.dw.extend()
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	w.dw.extend()
	n, err := w.ResponseWriter.Write(b)
	w.written += int64(n)
	return n, err
}

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// Unwrap lets http.ResponseController reach Flush and friends.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hijackWriter registers a connection taken over by an upgrade (WebSocket) with a tracker,
// so shutdown can close it once the drain timeout passes.
type hijackWriter struct {
	*statusWriter
	t *tracker
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.statusWriter.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if w.code == 0 {
		w.code = http.StatusSwitchingProtocols
	}
	return w.t.add(c), brw, nil
}

// tracker holds the connections upgrades took over.
type tracker struct {
	mu    sync.Mutex // guards conns
	conns map[*trackedConn]struct{}
}

func (t *tracker) init() { t.conns = make(map[*trackedConn]struct{}) }

func (t *tracker) add(c net.Conn) net.Conn {
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc
}

type trackedConn struct {
	net.Conn
	t    *tracker
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return c.Conn.Close()
}

// Upgraded returns the number of open connections taken over by upgrades (WebSocket).
func (p *Proxy) Upgraded() int {
	p.upgrades.mu.Lock()
	defer p.upgrades.mu.Unlock()
	return len(p.upgrades.conns)
}

// CloseUpgraded closes every connection taken over by an upgrade.
func (p *Proxy) CloseUpgraded() {
	p.upgrades.mu.Lock()
	conns := make([]*trackedConn, 0, len(p.upgrades.conns))
	for c := range p.upgrades.conns {
		conns = append(conns, c)
	}
	p.upgrades.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
