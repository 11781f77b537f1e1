package h2conn

import (
	"bytes"
	"errors"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// blockFrames returns the HEADERS (and CONTINUATION, one per fragment of split bytes) frames
// of the encoded fields on stream 1.
func blockFrames(t *testing.T, enc *hpack.Encoder, eb *bytes.Buffer, split int, fields ...hpack.HeaderField) []byte {
	t.Helper()
	eb.Reset()
	for _, f := range fields {
		if err := enc.WriteField(f); err != nil {
			t.Fatal(err)
		}
	}
	block := eb.Bytes()
	var out bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	first := true
	for first || len(block) > 0 {
		n := len(block)
		if split > 0 {
			n = min(n, split)
		}
		frag := block[:n]
		block = block[n:]
		if first {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: frag, EndStream: true, EndHeaders: len(block) == 0})
			first = false
		} else {
			fr.WriteContinuation(1, len(block) == 0, frag)
		}
	}
	return out.Bytes()
}

// decodeBlock reads one header block from frames with c's decoder.
func decodeBlock(c *Conn, r *bytes.Reader, frames []byte) (*headerBlock, error) {
	r.Reset(frames)
	f, err := c.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	return c.readHeaderBlock(f.(*http2.HeadersFrame))
}

func testConn(r *bytes.Reader, maxList uint32) *Conn {
	c := &Conn{hdec: newHeaderDecoder(maxList)}
	c.fr = http2.NewFramer(nil, r)
	return c
}

func hf(name, value string) hpack.HeaderField { return hpack.HeaderField{Name: name, Value: value} }

var request = []hpack.HeaderField{hf(":method", "GET"), hf(":scheme", "https"), hf(":authority", "a.test"),
	hf(":path", "/x"), hf("accept", "*/*"), hf("cookie", "a=1"), hf("cookie", "b=2")}

// A block split over CONTINUATION frames decodes to its fields, pseudo-header fields first;
// decoding the same (indexed) request again allocates nothing but the Framer's frame.
func TestHeaderBlock_DecodesIntoReusedBuffers(t *testing.T) {
	var eb bytes.Buffer
	enc := hpack.NewEncoder(&eb)
	r := bytes.NewReader(nil)
	c := testConn(r, 64<<10)
	for _, split := range []int{0, 3} {
		b, err := decodeBlock(c, r, blockFrames(t, enc, &eb, split, request...))
		if err != nil {
			t.Fatalf("split %d: %v", split, err)
		}
		if b.streamID != 1 || !b.endStream || b.truncated || b.npseudo != 4 || len(b.fields) != len(request) {
			t.Fatalf("split %d: %+v", split, b)
		}
		for i, f := range b.fields {
			if f != request[i] {
				t.Fatalf("split %d: field %d = %v, want %v", split, i, f, request[i])
			}
		}
	}
	frames := blockFrames(t, enc, &eb, 0, request...) // all indexed now
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := decodeBlock(c, r, frames); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the Framer's HeadersFrame
		t.Fatalf("%.1f allocations per header block, want at most 1", allocs)
	}
}

// Malformed blocks (RFC 9113 8.2, 8.3) are stream errors PROTOCOL_ERROR, with the HPACK
// state intact: the next block still decodes.
func TestHeaderBlock_MalformedIsStreamError(t *testing.T) {
	cases := map[string][]hpack.HeaderField{
		"upper-case name":      {hf(":method", "GET"), hf("Accept", "x")},
		"name not a token":     {hf(":method", "GET"), hf("a b", "x")},
		"value with NUL":       {hf(":method", "GET"), hf("accept", "a\x00b")},
		"value with LF":        {hf(":method", "GET"), hf("accept", "a\nb")},
		"pseudo after field":   {hf("accept", "x"), hf(":method", "GET")},
		"duplicate pseudo":     {hf(":method", "GET"), hf(":method", "POST")},
		"duplicate :path":      {hf(":path", "/"), hf(":method", "GET"), hf(":path", "/a")},
		"empty field name":     {hf(":method", "GET"), hf("", "x")},
		"non-ASCII field name": {hf(":method", "GET"), hf("\xc3\xa9", "x")},
	}
	for name, fields := range cases {
		var eb bytes.Buffer
		enc := hpack.NewEncoder(&eb)
		r := bytes.NewReader(nil)
		c := testConn(r, 64<<10)
		_, err := decodeBlock(c, r, blockFrames(t, enc, &eb, 0, fields...))
		var se http2.StreamError
		if !errors.As(err, &se) || se.Code != http2.ErrCodeProtocol || se.StreamID != 1 {
			t.Errorf("%s: %v, want a stream error PROTOCOL_ERROR", name, err)
			continue
		}
		if _, err := decodeBlock(c, r, blockFrames(t, enc, &eb, 0, request...)); err != nil {
			t.Errorf("%s: the next block: %v", name, err)
		}
	}
}

// A header list over the bound is truncated (answered 431 by the Dispatcher); a fragment
// far over what is left ends the connection; broken HPACK is COMPRESSION_ERROR.
func TestHeaderBlock_Limits(t *testing.T) {
	var eb bytes.Buffer
	enc := hpack.NewEncoder(&eb)
	r := bytes.NewReader(nil)
	c := testConn(r, 300)
	big := string(bytes.Repeat([]byte("v"), 150))
	b, err := decodeBlock(c, r, blockFrames(t, enc, &eb, 0, hf(":method", "GET"), hf("x-a", big), hf("x-b", big)))
	if err != nil || !b.truncated || len(b.fields) != 2 {
		t.Fatalf("over the bound: %+v, %v; want truncated after 2 fields", b, err)
	}

	c = testConn(r, 100)
	huge := string(bytes.Repeat([]byte("v"), 500))
	enc2 := hpack.NewEncoder(&eb)
	_, err = decodeBlock(c, r, blockFrames(t, enc2, &eb, 0, hf(":method", "GET"), hf("x-a", huge)))
	if err != connError(http2.ErrCodeProtocol) {
		t.Fatalf("a fragment far over the bound: %v, want a connection error PROTOCOL_ERROR", err)
	}

	c = testConn(r, 64<<10)
	var out bytes.Buffer
	http2.NewFramer(&out, nil).WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, EndHeaders: true})
	if _, err := decodeBlock(c, r, out.Bytes()); err != connError(http2.ErrCodeCompression) {
		t.Fatalf("broken HPACK: %v, want a connection error COMPRESSION_ERROR", err)
	}
}
