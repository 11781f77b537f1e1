// Package h2guard inspects the frames an HTTP/2 client sends before Go's HTTP/2 server reads
// them, and makes that server answer what RFC 9113 calls a malformed request the way the RFC
// asks: a stream error PROTOCOL_ERROR (RST_STREAM) instead of the 400 response Go sends.
//
// The malformed requests handled are those with a connection-specific header field
// (Connection, Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade) or a TE field other
// than "trailers" (RFC 9113 8.2.2), in headers or trailers. Conn decodes every header block
// with its own HPACK decoder, kept in step with the server's, and passes the bytes on
// unchanged; for a malformed block it clears END_HEADERS on the block's last frame and adds a
// CONTINUATION frame holding one field with an uppercase name, which Go's server refuses with
// RST_STREAM PROTOCOL_ERROR on that stream while its HPACK state stays in step with the
// client's. Frames other than HEADERS and CONTINUATION (DATA above all) pass through without
// a copy.
//
// Go's server also ends the connection (PROTOCOL_ERROR) at a SETTINGS frame that repeats a
// parameter, which RFC 9113 6.5.3 allows ("processed in the order they appear"). Conn rewrites
// such a frame to hold each parameter once, at its last value, cut after the first invalid
// value so that the server still refuses that one. (Not rechecked: a window that only an
// intermediate INITIAL_WINDOW_SIZE would have taken past 2^31-1.)
//
// Conn stops inspecting (and passes everything through) at anything it cannot follow: a
// frame larger than MaxFrameSize, bad padding, an HPACK error, a header block interrupted by
// another frame. Go's server then finds the same fault and ends the connection itself.
package h2guard

import (
	"encoding/binary"
	"io"
	"net"

	"golang.org/x/net/http2/hpack"
)

// MaxFrameSize is the largest frame Conn inspects; the server must advertise (and enforce)
// it as SETTINGS_MAX_FRAME_SIZE. 16 KiB is the protocol's initial value.
const MaxFrameSize = 16 << 10

// HeaderTableSize is the HPACK dynamic table size the server's decoder allows (Go's default,
// SETTINGS_HEADER_TABLE_SIZE 4096); Conn's decoder must allow the same.
const HeaderTableSize = 4096

const (
	preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

	frameHeaders      = 0x1
	frameSettings     = 0x4
	frameContinuation = 0x9

	flagAck = 0x1

	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	// refusedName is the field added to a malformed block: uppercase, so invalid in HTTP/2.
	refusedName = "Malformed-Request"
)

// Conn wraps a server's HTTP/2 connection (TLS, after ALPN "h2"). Read is not safe for
// concurrent use, as with any connection a single server reads. Conn has no
// ConnectionState method on purpose: net/http serves a connection with one as HTTP/1.x
// over TLS, and one without as HTTP/2 with prior knowledge when so configured.
type Conn struct {
	net.Conn

	pend  []byte // bytes ready for the reader
	skip  int    // bytes to pass straight through: the preface, a frame's payload
	off   bool   // inspection stopped; everything passes through
	open  bool   // a header block is open (END_HEADERS not seen)
	bad   bool   // the open header block is malformed
	hdr   [9]byte
	frame []byte // a HEADERS or CONTINUATION frame being inspected
	dec   *hpack.Decoder
}

// New wraps c. maxString bounds one header name or value (the server's header list limit
// is a good value): a longer one stops inspection, the server refuses it.
func New(c net.Conn, maxString int) *Conn {
	g := &Conn{Conn: c, skip: len(preface)}
	g.dec = hpack.NewDecoder(HeaderTableSize, g.field)
	g.dec.SetMaxStringLength(maxString)
	return g
}

// Read reads the client's bytes, each header block inspected as a whole first.
func (g *Conn) Read(p []byte) (int, error) {
	for {
		switch {
		case len(g.pend) > 0:
			n := copy(p, g.pend)
			g.pend = g.pend[n:]
			return n, nil
		case g.off:
			return g.Conn.Read(p)
		case g.skip > 0:
			n, err := g.Conn.Read(p[:min(len(p), g.skip)])
			g.skip -= n
			return n, err
		}
		if err := g.next(); err != nil {
			return 0, err
		}
	}
}

// next reads the next frame header and, for a HEADERS or CONTINUATION frame, the whole
// frame, leaving what the reader gets in pend and skip.
func (g *Conn) next() error {
	if _, err := io.ReadFull(g.Conn, g.hdr[:]); err != nil {
		return err
	}
	length := int(g.hdr[0])<<16 | int(g.hdr[1])<<8 | int(g.hdr[2])
	typ, flags := g.hdr[3], g.hdr[4]
	g.pend, g.skip = g.hdr[:], length
	if length > MaxFrameSize || g.open != (typ == frameContinuation) {
		g.off = length > MaxFrameSize || g.open // else a stray CONTINUATION: the server's to refuse
		return nil
	}
	switch {
	case typ == frameSettings && flags&flagAck == 0 && length%6 == 0 && length <= maxSettings*6:
		if err := g.readFrame(length); err != nil {
			return err
		}
		g.frame = dedupSettings(g.frame)
		g.pend = g.frame
		return nil
	case typ != frameHeaders && typ != frameContinuation:
		return nil
	}
	if err := g.readFrame(length); err != nil {
		return err
	}
	frag, ok := fragment(typ, flags, g.frame[len(g.hdr):])
	if !ok {
		g.off = true
		return nil
	}
	g.open = true
	if _, err := g.dec.Write(frag); err != nil {
		g.off = true
		return nil
	}
	if flags&flagEndHeaders == 0 {
		return nil
	}
	g.open = false
	if err := g.dec.Close(); err != nil {
		g.off = true
		return nil
	}
	if g.bad {
		g.bad = false
		g.frame[4] &^= flagEndHeaders
		g.frame = appendRefusal(g.frame, binary.BigEndian.Uint32(g.hdr[5:])&(1<<31-1))
		g.pend = g.frame
	}
	return nil
}

// readFrame reads the payload of the frame whose header is in hdr, to hand the whole frame
// (from g.frame) to the reader.
func (g *Conn) readFrame(length int) error {
	g.frame = append(append(g.frame[:0], g.hdr[:]...), make([]byte, length)...)
	if _, err := io.ReadFull(g.Conn, g.frame[len(g.hdr):]); err != nil {
		return err
	}
	g.pend, g.skip = g.frame, 0
	return nil
}

// fragment returns the header block fragment of a HEADERS or CONTINUATION payload.
func fragment(typ, flags byte, p []byte) ([]byte, bool) {
	if typ != frameHeaders {
		return p, true
	}
	pad := 0
	if flags&flagPadded != 0 {
		if len(p) < 1 {
			return nil, false
		}
		pad, p = int(p[0]), p[1:]
	}
	if flags&flagPriority != 0 {
		if len(p) < 5 {
			return nil, false
		}
		p = p[5:]
	}
	if pad > len(p) {
		return nil, false
	}
	return p[:len(p)-pad], true
}

// appendRefusal appends a CONTINUATION frame ending stream's header block with one literal
// field (not indexed, so the HPACK tables are untouched) that the server must refuse.
func appendRefusal(b []byte, stream uint32) []byte {
	payload := 1 + 1 + len(refusedName) + 1 // representation, name length, name, empty value
	b = append(b, 0, 0, byte(payload), frameContinuation, flagEndHeaders)
	b = binary.BigEndian.AppendUint32(b, stream)
	b = append(b, 0x00, byte(len(refusedName)))
	b = append(b, refusedName...)
	return append(b, 0)
}

// field marks the open header block malformed if f is a connection-specific field or a TE
// other than "trailers".
func (g *Conn) field(f hpack.HeaderField) {
	switch f.Name {
	case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
		g.bad = true
	case "te":
		g.bad = g.bad || f.Value != "trailers"
	}
}
