package proxy

import "net"

// ServeLane is Serve for a client connection whose requests are handed to it in memory, one
// after another (an HTTP/2 stream's lane, see frontend): after a response it goes straight
// back to reading, without the yield Serve makes so that a socket's next request can
// arrive first. A lane's next request is behind no system call, and the yield cost a
// scheduler round trip per request.
func (c *Conn) ServeLane() (handoff net.Conn) {
	c.lane = true
	return c.Serve()
}
