package h2conn

import (
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// A request's header block (HEADERS and its CONTINUATION frames) is decoded here rather than
// by the Framer's ReadMetaHeaders, with the same checks (RFC 9113 8.2 and 8.3: field names
// lower-case tokens, values without CR, LF or NUL, pseudo-header fields first and each at
// most once, the header list size bound) but into buffers the connection keeps: one header
// block costs no allocation beyond the stream's own copy of its fields.

// headerBlock is a decoded header block; fields is the connection's buffer, valid until the
// next block is read.
type headerBlock struct {
	streamID  uint32
	endStream bool
	priority  http2.PriorityParam
	hasPrio   bool
	fields    []hpack.HeaderField // pseudo-header fields first
	npseudo   int
	truncated bool
}

func (b *headerBlock) pseudo() []hpack.HeaderField  { return b.fields[:b.npseudo] }
func (b *headerBlock) regular() []hpack.HeaderField { return b.fields[b.npseudo:] }

// headerDecoder is the connection's HPACK decoder and the state of the block it decodes
// (reader goroutine only).
type headerDecoder struct {
	dec        *hpack.Decoder
	max        uint32 // the header list size bound
	fields     []hpack.HeaderField
	npseudo    int
	sawRegular bool
	invalid    bool
	truncated  bool
	remain     uint32 // what the header list may still take
	trailerRem uint32 // and the names a "trailer" field announces
}

func newHeaderDecoder(maxList uint32) *headerDecoder {
	d := &headerDecoder{max: maxList}
	d.dec = hpack.NewDecoder(headerTableSize, d.emit)
	d.dec.SetMaxStringLength(int(maxList))
	return d
}

func (d *headerDecoder) emit(hf hpack.HeaderField) {
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		d.invalid = true
	}
	if strings.HasPrefix(hf.Name, ":") {
		if d.sawRegular {
			d.invalid = true
		}
		for _, p := range d.fields[:d.npseudo] {
			if p.Name == hf.Name {
				d.invalid = true // a duplicate
			}
		}
	} else {
		d.sawRegular = true
		if !validFieldName(hf.Name) {
			d.invalid = true
		}
	}
	if d.invalid {
		d.dec.SetEmitEnabled(false)
		return
	}
	rem, size := &d.remain, hf.Size()
	if hf.Name == "trailer" {
		n := uint32(strings.Count(hf.Value, ",") + 1)
		rem, size = &d.trailerRem, uint32(len(hf.Value))-n+1+n*32
	}
	if size > *rem {
		d.dec.SetEmitEnabled(false)
		d.truncated = true
		d.remain, d.trailerRem = 0, 0
		return
	}
	*rem -= size
	d.fields = append(d.fields, hf)
	if !d.sawRegular {
		d.npseudo++
	}
}

// validFieldName reports whether name is a lower-case token.
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		b := name[i]
		if 'A' <= b && b <= 'Z' || b >= 0x80 || !httpguts.IsTokenRune(rune(b)) {
			return false
		}
	}
	return true
}

// readHeaderBlock decodes the header block hf starts, reading its CONTINUATION frames (the
// Framer checks that nothing else comes between). A malformed block whose HPACK state is
// intact is a StreamError; everything else ends the connection.
func (c *Conn) readHeaderBlock(hf *http2.HeadersFrame) (*headerBlock, error) {
	d := c.hdec
	if cap(d.fields) > 64 {
		d.fields = nil // a rare long list: not kept
	}
	clear(d.fields[:cap(d.fields)]) // drop the last block's strings
	d.fields = d.fields[:0]
	d.npseudo, d.sawRegular, d.invalid, d.truncated = 0, false, false, false
	d.remain, d.trailerRem = d.max, d.max
	d.dec.SetEmitEnabled(true)
	b := &c.hblock
	*b = headerBlock{streamID: hf.StreamID, endStream: hf.StreamEnded(), hasPrio: hf.HasPriority(), priority: hf.Priority}
	frag := hf.HeaderBlockFragment()
	ended := hf.HeadersEnded()
	for {
		// A fragment far over what the list may still take is not decoded (as the Framer).
		if int64(len(frag)) > 2*int64(d.remain+d.trailerRem) || d.invalid {
			return nil, connError(http2.ErrCodeProtocol)
		}
		if _, err := d.dec.Write(frag); err != nil {
			return nil, connError(http2.ErrCodeCompression)
		}
		if ended {
			break
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			return nil, err
		}
		cf := f.(*http2.ContinuationFrame) // the Framer checks the order
		frag, ended = cf.HeaderBlockFragment(), cf.HeadersEnded()
	}
	if err := d.dec.Close(); err != nil {
		return nil, connError(http2.ErrCodeCompression)
	}
	if d.invalid {
		return nil, streamError(hf.StreamID, http2.ErrCodeProtocol)
	}
	b.fields, b.npseudo, b.truncated = d.fields, d.npseudo, d.truncated
	return b, nil
}
