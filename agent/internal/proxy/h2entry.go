package proxy

import "net"

// NewLaneConn is NewConn for a connection that carries HTTP/2 streams' requests one at a
// time, arrived over TLS (the frontend's lanes). Between requests its Serve does not yield
// the processor: a lane's next request comes from the HTTP/2 connection's reader over a
// channel, not from a socket, so the yield that lets a client read its response before
// the next read finds nothing only puts the lane at the back of the run queue.
func (p *Proxy) NewLaneConn(c net.Conn) *Conn {
	pc := p.NewConn(c, true)
	pc.lane = true
	return pc
}
