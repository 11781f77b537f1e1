package proxy

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
)

// watchDelay is how long a backend may take to answer before the client connection is
// watched for going away. Quick answers cost nothing; slow ones start one goroutine. The
// backend's read deadline that starts the watch is re-armed about once per watchDelay/2 on
// a busy connection (see fillBackend): 20 ms re-arms it every ~8 requests at the bench's
// ~1 ms per request and connection, where 5 ms did every ~2 (a runtime timer change each).
const watchDelay = 20 * time.Millisecond

var (
	zeroTime     time.Time
	aLongTimeAgo = time.Unix(1, 0)
)

// watcher reads the client connection while the fast path waits for a backend. If the
// client goes away it wakes the waiting read (by moving the backend's read deadline to the
// past) and sets gone, so the upstream request is cancelled by closing its connection.
// Bytes the client sends meanwhile (a pipelined request) are kept for later.
type watcher struct {
	done chan struct{}
	gone atomic.Bool
	data []byte
}

func (c *Conn) startWatch(bc *bconn) {
	w := &watcher{done: make(chan struct{})}
	c.watch = w
	c.c.SetReadDeadline(zeroTime)
	c.readBy = 0 // the deadline readWithin last set is gone
	go func() {
		defer close(w.done)
		buf := make([]byte, 1024)
		n, err := c.c.Read(buf)
		if n > 0 {
			w.data = buf[:n]
			return
		}
		if err != nil && !isTimeout(err) {
			w.gone.Store(true)
			bc.conn.SetReadDeadline(aLongTimeAgo)
		}
	}()
}

// stopWatch ends a running watcher and puts what it read in front of the next request.
func (c *Conn) stopWatch() {
	w := c.watch
	if w == nil {
		return
	}
	c.watch = nil
	c.c.SetReadDeadline(aLongTimeAgo)
	c.readBy = 0
	<-w.done
	if len(w.data) > 0 {
		rest := c.rb.buffered()
		nb := make([]byte, max(len(c.rb.b), len(rest)+len(w.data)))
		n := copy(nb, rest)
		n += copy(nb[n:], w.data)
		c.rb = rbuf{b: nb, w: n, max: c.rb.max}
	}
}

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// kindOf classifies a failed exchange for the upstream error metric.
func kindOf(err error) int {
	var oe *net.OpError
	switch {
	case errors.As(err, &oe) && oe.Op == "dial":
		return metrics.ErrConnect
	case isTimeout(err):
		return metrics.ErrTimeout
	}
	return metrics.ErrBroken
}
