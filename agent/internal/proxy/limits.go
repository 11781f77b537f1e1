package proxy

import (
	"cmp"
	"time"
)

// Client connection timeouts (the defaults of Limits; net/http's server and nginx use
// similar values).
const (
	IdleTimeout       = 120 * time.Second // between requests on a keep-alive connection
	ReadHeaderTimeout = 10 * time.Second  // for the rest of a head once it has started
	BodyTimeout       = 60 * time.Second  // between two reads of a request body (nginx client_body_timeout)
	WriteTimeout      = 60 * time.Second  // between two writes to the client (nginx send_timeout)
)

// Size and count defaults of Limits.
const (
	DefaultMaxConns       = 10000
	DefaultMaxHeaderBytes = 64 << 10  // request line and headers
	DefaultMaxHeaderCount = 100       // Envoy's max_headers_count
	DefaultMaxTargetBytes = 8 << 10   // nginx's large_client_header_buffers line
	DefaultMaxBodyBytes   = 100 << 20 // per route unless the route sets max_body_bytes
)

// Limits bound everything a client controls, the same way on the fast path and on
// net/http. Zero fields take the defaults above.
type Limits struct {
	// MaxConns bounds open client connections; more are closed as they are accepted
	// (enforced by the listener, see frontend).
	MaxConns int
	// MaxHeaderBytes bounds a request head, request line included (431 beyond it).
	MaxHeaderBytes int
	// MaxHeaderCount bounds the header lines of a request (431 beyond it).
	MaxHeaderCount int
	// MaxTargetBytes bounds the request-target (414 beyond it).
	MaxTargetBytes int
	// MaxBodyBytes bounds a request body for routes without max_body_bytes (413).
	MaxBodyBytes int64
	// HeaderTimeout bounds reading a request head once its first byte arrived;
	// IdleTimeout the wait for the next request on a keep-alive connection; BodyTimeout
	// the wait for each piece of a request body; WriteTimeout each write to the client.
	HeaderTimeout, IdleTimeout, BodyTimeout, WriteTimeout time.Duration
}

// withDefaults returns l with zero fields set to the defaults.
func (l Limits) withDefaults() Limits {
	l.MaxConns = cmp.Or(l.MaxConns, DefaultMaxConns)
	l.MaxHeaderBytes = cmp.Or(l.MaxHeaderBytes, DefaultMaxHeaderBytes)
	l.MaxHeaderCount = cmp.Or(l.MaxHeaderCount, DefaultMaxHeaderCount)
	l.MaxTargetBytes = cmp.Or(l.MaxTargetBytes, DefaultMaxTargetBytes)
	l.MaxBodyBytes = cmp.Or(l.MaxBodyBytes, DefaultMaxBodyBytes)
	l.HeaderTimeout = cmp.Or(l.HeaderTimeout, ReadHeaderTimeout)
	l.IdleTimeout = cmp.Or(l.IdleTimeout, IdleTimeout)
	l.BodyTimeout = cmp.Or(l.BodyTimeout, BodyTimeout)
	l.WriteTimeout = cmp.Or(l.WriteTimeout, WriteTimeout)
	return l
}

// Limits returns the limits in force (defaults filled in).
func (p *Proxy) Limits() Limits { return p.limits }
