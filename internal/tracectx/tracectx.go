// Package tracectx carries W3C Trace Context (traceparent) ids through a request: it parses
// an incoming header, starts a trace when there is none, and keeps the ids in a
// context.Context for loggers and outgoing calls.
//
// It is hand-written rather than taken from OpenTelemetry's propagation package because the
// agent calls it on every proxied request: Parse and String do not allocate beyond the
// returned string (see BenchmarkParse), while a propagator goes through a carrier interface
// and a map.
package tracectx

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// Header is the W3C trace context header name.
const Header = "traceparent"

// Context is one span's identity.
type Context struct {
	TraceID [16]byte
	SpanID  [8]byte
	Flags   byte // bit 0: sampled
}

// New starts a trace: random ids, sampled.
func New() Context {
	var c Context
	_, _ = rand.Read(c.TraceID[:])
	_, _ = rand.Read(c.SpanID[:])
	c.Flags = 1
	return c
}

// Child returns a new span of the same trace.
func (c Context) Child() Context {
	_, _ = rand.Read(c.SpanID[:])
	return c
}

// Valid reports whether the ids are set (all-zero ids are invalid per the spec).
func (c Context) Valid() bool {
	return c.TraceID != [16]byte{} && c.SpanID != [8]byte{}
}

// Parse reads a traceparent header value ("00-<32 hex>-<16 hex>-<2 hex>"). Versions other
// than 00 are read by the 00 layout, as the spec asks; malformed values return false.
func Parse(v string) (Context, bool) {
	var c Context
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || (len(v) > 55 && v[55] != '-') {
		return c, false
	}
	if v[0:2] == "ff" || !isHex(v[0:2]) {
		return c, false
	}
	if _, err := hex.Decode(c.TraceID[:], []byte(v[3:35])); err != nil || !isLowerHex(v[3:35]) {
		return c, false
	}
	if _, err := hex.Decode(c.SpanID[:], []byte(v[36:52])); err != nil || !isLowerHex(v[36:52]) {
		return c, false
	}
	var f [1]byte
	if _, err := hex.Decode(f[:], []byte(v[53:55])); err != nil {
		return c, false
	}
	c.Flags = f[0]
	return c, c.Valid()
}

// String formats the traceparent header value.
func (c Context) String() string {
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], c.TraceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], c.SpanID[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{c.Flags})
	return string(b[:])
}

// TraceIDString returns the trace id in hex, as logs and GetTrace use it.
func (c Context) TraceIDString() string { return hex.EncodeToString(c.TraceID[:]) }

type ctxKey struct{}

// With returns ctx carrying c.
func With(ctx context.Context, c Context) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// From returns the trace context in ctx, if any.
func From(ctx context.Context) (Context, bool) {
	c, ok := ctx.Value(ctxKey{}).(Context)
	return c, ok
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F') {
			return false
		}
	}
	return true
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f') {
			return false
		}
	}
	return true
}
