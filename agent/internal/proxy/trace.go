package proxy

import (
	crand "crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"time"

	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// Publisher receives one record per proxied request: an entry of stream with one field
// whose value is the encoded record (requestlog.Field, requestlog.Compact). PublishValue
// must copy value, never block, and should not allocate (a *publish.Publisher drops and
// counts what its buffer cannot hold); shard spreads concurrent callers over its locks.
type Publisher interface {
	PublishValue(shard uint8, stream, field string, value []byte)
}

// DefaultRequestStream is the stream request records go to when none is configured.
var DefaultRequestStream = keyspace.DefaultRequestStream

// tracing is where request records go; nil in Proxy means they are not built at all.
type tracing struct {
	pub    Publisher
	stream string
}

// SetPublisher makes every request from now on publish a requestlog record to stream
// through pub ("" means DefaultRequestStream); a nil pub stops publishing. Trace context
// (traceparent to backends, X-Trace-Id to clients) is handled either way.
func (p *Proxy) SetPublisher(pub Publisher, stream string) {
	if pub == nil {
		p.tracing.Store(nil)
		return
	}
	if stream == "" {
		stream = DefaultRequestStream
	}
	p.tracing.Store(&tracing{pub: pub, stream: stream})
}

// Publishing reports whether request records are being published.
func (p *Proxy) Publishing() bool { return p.tracing.Load() != nil }

// Response headers carrying the agent's span to the client.
const (
	traceIDHeader = "X-Trace-Id"
)

// newRand returns a PRNG for span and trace ids, seeded from crypto/rand: one per fast-path
// connection, so a request draws its ids without a syscall or a shared lock.
func newRand() *rand.ChaCha8 {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		// crypto/rand does not fail on supported platforms; fall back to the runtime's
		// generator (also ChaCha8, seeded by the OS) rather than a fixed seed.
		for i := 0; i < len(seed); i += 8 {
			binary.LittleEndian.PutUint64(seed[i:], rand.Uint64())
		}
	}
	return rand.NewChaCha8(seed)
}

// uint64Source is what ids are drawn from: a connection's ChaCha8, or the runtime's
// generator on the net/http path.
type uint64Source interface{ Uint64() uint64 }

type runtimeRand struct{}

func (runtimeRand) Uint64() uint64 { return rand.Uint64() }

// span returns the agent's span for a request whose traceparent header value is in (nil or
// invalid: a new trace is started).
func span(in []byte, rng uint64Source) tracectx.Context {
	var sc tracectx.Context
	if len(in) > 0 {
		if parent, ok := tracectx.Parse(unsafeString(in)); ok {
			sc = parent
		}
	}
	if sc.TraceID == ([16]byte{}) {
		for sc.TraceID == ([16]byte{}) {
			binary.LittleEndian.PutUint64(sc.TraceID[:8], rng.Uint64())
			binary.LittleEndian.PutUint64(sc.TraceID[8:], rng.Uint64())
		}
		sc.Flags = 1
	}
	for {
		binary.LittleEndian.PutUint64(sc.SpanID[:], rng.Uint64())
		if sc.SpanID != ([8]byte{}) {
			return sc
		}
	}
}

// appendTraceparent appends the traceparent value of sc without allocating.
func appendTraceparent(b []byte, sc *tracectx.Context) []byte {
	b = append(b, "00-"...)
	b = hex.AppendEncode(b, sc.TraceID[:])
	b = append(b, '-')
	b = hex.AppendEncode(b, sc.SpanID[:])
	b = append(b, '-')
	return hex.AppendEncode(b, []byte{sc.Flags})
}

// appendTraceHeaders appends the response header lines that give the client the trace:
// X-Trace-Id and traceparent.
func appendTraceHeaders(b []byte, sc *tracectx.Context) []byte {
	b = append(b, traceIDHeader+": "...)
	b = hex.AppendEncode(b, sc.TraceID[:])
	b = append(b, "\r\nTraceparent: "...)
	b = appendTraceparent(b, sc)
	return append(b, "\r\n"...)
}

// exchange is what a request record needs beyond the request itself.
type exchange struct {
	status   int
	duration time.Duration
	bytesIn  int64
	bytesOut int64
	route    *Route  // nil when none matched
	target   *target // nil when no backend was tried
	tries    int     // tries made (retries + 1); 0 when no backend was tried
	revision int64
}

// record encodes the request record into buf (returned for reuse; host and path may
// point into connection buffers: they are only read) and publishes it. Hot: once per
// request; no allocation once buf has room.
func (tr *tracing) record(p *Proxy, sc *tracectx.Context, host, method, path, client string, x *exchange, buf []byte) []byte {
	r := requestlog.Compact{
		TraceID: sc.TraceID, SpanID: sc.SpanID, Node: p.node, Host: host, Method: method, Path: path,
		Status: x.status, Duration: x.duration, BytesIn: x.bytesIn, BytesOut: x.bytesOut,
		Client: client, Revision: x.revision,
	}
	if x.route != nil {
		r.Route = x.route.name
	}
	if x.target != nil {
		r.Upstream = x.target.raw
	}
	buf = r.Append(buf[:0])
	// The span id is ours and random: it spreads connections over the publisher's locks.
	tr.pub.PublishValue(sc.SpanID[0], tr.stream, requestlog.Field, buf)
	return buf
}

// httpRequest is a net/http-path request's trace state, in its context.
type httpRequest struct {
	sc tracectx.Context
	x  exchange
}

type httpRequestKey struct{}

// countingBody counts the request body bytes read when Content-Length did not give them.
type countingBody struct {
	io.ReadCloser
	rq    *httpRequest
	known bool
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.known {
		b.rq.x.bytesIn = max(b.rq.x.bytesIn, 0) + int64(n)
	}
	return n, err
}
