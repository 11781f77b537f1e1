package requestlog

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/klauspost/compress/s2"
)

// ZBlockField is the single field of a compressed block: a block's text (BlockField's value)
// compressed in the S2 block format (github.com/klauspost/compress/s2, an extension of
// Snappy's). Records repeat most of their neighbours' values (node, host, route, upstream,
// client), so a block of a busy route compresses ~2.4x: Redis stores, sends and copies that
// much less per record, and the control plane's consumer reads that much less.
//
// Agents write it when the control plane says its consumers read it
// (ConfigUpdate.request_block_encoding is ZBlockEncoding), plain blocks otherwise, so either
// side may be upgraded first.
const ZBlockField = "z"

// ZBlockEncoding names ZBlockField's encoding where the control plane announces it.
const ZBlockEncoding = "s2"

// MaxZBlockText bounds a block's text, plain (BlockField) or what a compressed block
// (ZBlockField) decodes to: what an agent packs (MaxBlockBytes, or one larger record alone)
// with room to spare. A longer block is malformed and is not parsed (nor a compressed one
// decoded), whoever wrote it.
const MaxZBlockText = 4 << 20

// AppendZBlock appends the compressed form of a block's text to dst.
func AppendZBlock(dst, text []byte) []byte {
	n := len(dst)
	need := s2.MaxEncodedLen(len(text))
	if need < 0 {
		panic("requestlog: block too large to compress")
	}
	dst = slices.Grow(dst, need)
	z := s2.Encode(dst[n:n+need], text)
	return dst[:n+len(z)]
}

// BlockText returns the block text of a stream entry's values: BlockField's value as is, or
// ZBlockField's decompressed into new memory (records read from it share it). ok is false
// when v is not a block; err is ErrMalformed's when a block's value is not text, does not
// decompress or is longer than MaxZBlockText.
func BlockText(v map[string]any) (text string, ok bool, err error) {
	if len(v) != 1 {
		return "", false, nil
	}
	if b, found := v[BlockField]; found {
		s, isText := b.(string)
		if !isText {
			return "", true, fmt.Errorf("%w: %s is not text", ErrMalformed, BlockField)
		}
		if len(s) > MaxZBlockText {
			return "", true, fmt.Errorf("%w: %s is %d bytes, over %d", ErrMalformed, BlockField, len(s), MaxZBlockText)
		}
		return s, true, nil
	}
	z, found := v[ZBlockField]
	if !found {
		return "", false, nil
	}
	s, isText := z.(string)
	if !isText {
		return "", true, fmt.Errorf("%w: %s is not text", ErrMalformed, ZBlockField)
	}
	text, err = DecodeZBlock(s)
	return text, true, err
}

// DecodeZBlock decompresses a compressed block (ZBlockField's value) into new memory.
func DecodeZBlock(z string) (string, error) {
	src := unsafe.Slice(unsafe.StringData(z), len(z))
	n, err := s2.DecodedLen(src)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, ZBlockField, err)
	}
	if n > MaxZBlockText {
		return "", fmt.Errorf("%w: %s decodes to %d bytes, over %d", ErrMalformed, ZBlockField, n, MaxZBlockText)
	}
	out, err := s2.Decode(make([]byte, n), src)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrMalformed, ZBlockField, err)
	}
	return unsafe.String(unsafe.SliceData(out), len(out)), nil
}
