package requestlog

import (
	"encoding/hex"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
	"time"
)

// BlockField is the single field of a block: many compact records (Compact.Append's values)
// in one stream entry, separated by newlines (which a compact record never holds: it escapes
// them). Agents publish blocks so that Redis and the control plane's consumers pay for one
// entry (one XADD, one delivery, one XACK) per block instead of per request.
const BlockField = "b"

// Block limits: what one entry holds at most. A record's place in its block fits 16 bits
// (see Ref).
const (
	MaxBlockRecords = 256
	MaxBlockBytes   = 64 << 10
)

// Each calls fn for every record of a stream entry's values, with its place in the entry
// (0 for an entry holding one record: the compact or the field-per-value form), until fn
// returns false. A record that does not parse is passed with its error (ErrMalformed); the
// others are still passed. A block that cannot be read (a compressed one that does not
// decompress) is passed as one record with its error. Text values of a block's records
// share the block's memory.
func Each(v map[string]any, fn func(i int, r *Record, err error) bool) {
	s, ok, err := BlockText(v)
	if !ok {
		r, err := Parse(v)
		fn(0, &r, err)
		return
	}
	if err != nil {
		fn(0, &Record{}, err)
		return
	}
	for i := 0; s != ""; i++ {
		var line string
		line, s = NextLine(s)
		var r Record
		err := ParseLine(line, &r)
		if !fn(i, &r, err) {
			return
		}
	}
}

// NextLine splits a block's text (its BlockField value) into its first record line and the
// rest; a caller reads a block by calling it until rest is empty.
func NextLine(block string) (line, rest string) {
	if j := strings.IndexByte(block, '\n'); j >= 0 {
		return block[:j], block[j+1:]
	}
	return block, ""
}

// Records returns the records of a stream entry's values (see Each), or the first error.
func Records(v map[string]any) ([]Record, error) {
	var out []Record
	var first error
	Each(v, func(_ int, r *Record, err error) bool {
		if err != nil {
			first = err
			return false
		}
		out = append(out, *r)
		return true
	})
	return out, first
}

// ParseLine reads one compact record (Compact.Append's value) into r. Hot: called for every
// record by the control plane's consumers; text values are substrings of line unless they
// hold an escape.
func ParseLine(line string, r *Record) error {
	var parts [compactValues]string
	n, plain := splitLine(line, &parts) // plain: no escape, no value needs unescaping
	if n != compactValues || parts[0] != Version {
		return fmt.Errorf("%w: compact record: want %d tab-separated values, version %s", ErrMalformed, compactValues, Version)
	}
	p := parts[1:]
	if plain {
		// The common case, no escape anywhere: the values are the line's substrings.
		*r = Record{TraceID: p[0], SpanID: p[1], Node: p[2], Host: p[3], Method: p[4],
			Path: p[5], Client: p[10], Route: p[11], Upstream: p[12]}
	} else {
		*r = Record{TraceID: p[0], SpanID: p[1], Node: unescape(p[2]), Host: unescape(p[3]), Method: unescape(p[4]),
			Path: unescape(p[5]), Client: unescape(p[10]), Route: unescape(p[11]), Upstream: unescape(p[12])}
	}
	var nums [5]int64
	for k, j := range [5]int{6, 7, 8, 9, 13} {
		v, ok := parseCount(p[j])
		if !ok {
			return fmt.Errorf("%w: %s=%q", ErrMalformed, names[j], p[j])
		}
		nums[k] = v
	}
	if nums[0] < 100 || nums[0] > 999 {
		return fmt.Errorf("%w: status %d", ErrMalformed, nums[0])
	}
	r.Status, r.Duration, r.BytesIn, r.BytesOut, r.Revision = int(nums[0]), time.Duration(nums[1])*time.Microsecond, nums[2], nums[3], nums[4]
	if r.Host == "" || r.Method == "" {
		return fmt.Errorf("%w: no host or method", ErrMalformed)
	}
	return nil
}

// splitLine splits a compact record's line at its tabs into parts and returns how many
// values it holds (compactValues+1 for more than parts holds) and whether it holds no
// backslash. Hot: once per record on the control plane. The values are short, so instead of
// a search per value it reads the line 8 bytes at a time, finding every tab and backslash
// of a word at once.
func splitLine(line string, parts *[compactValues]string) (n int, plain bool) {
	plain = true
	from, i := 0, 0
	for ; i+8 <= len(line); i += 8 {
		w := word(line, i)
		if plain && zeros(w^'\\'*ones) != 0 {
			plain = false
		}
		for tabs := zeros(w ^ '\t'*ones); tabs != 0; tabs &= tabs - 1 {
			if n == compactValues-1 {
				return compactValues + 1, plain
			}
			j := i + bits.TrailingZeros64(tabs)/8
			parts[n], from, n = line[from:j], j+1, n+1
		}
	}
	for ; i < len(line); i++ {
		switch line[i] {
		case '\\':
			plain = false
		case '\t':
			if n == compactValues-1 {
				return compactValues + 1, plain
			}
			parts[n], from, n = line[from:i], i+1, n+1
		}
	}
	parts[n] = line[from:]
	return n + 1, plain
}

// ones has 1 in each byte: c*ones is byte c in each.
const ones = 0x0101010101010101

// word reads s[i:i+8] as a little-endian uint64 (byte i lowest).
func word(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// zeros has the top bit of each byte of x that is 0 set, and no other bit: for a byte b,
// (b&0x7f)+0x7f sets the top bit unless b&0x7f is 0, with no carry out.
func zeros(x uint64) uint64 {
	const lows = 0x7f7f7f7f7f7f7f7f
	return ^((x&lows + lows) | x | lows)
}

// parseCount reads a count: what strconv.ParseInt(s, 10, 64) reads that is not negative.
// Up to 18 digits it reads them itself (no overflow is possible), else it asks ParseInt.
func parseCount(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 18 {
		v, err := strconv.ParseInt(s, 10, 64)
		return v, err == nil && v >= 0
	}
	var v int64
	for i := 0; i < len(s); i++ {
		c := s[i] - '0'
		if c > 9 {
			v, err := strconv.ParseInt(s, 10, 64) // a sign, or not a number
			return v, err == nil && v >= 0
		}
		v = v*10 + int64(c)
	}
	return v, true
}

// Ref is where a record is: its stream entry's id (ms-seq) and its place in the entry. Its
// text form, ID, is "ms-<seq·65536 + place>": ordered as the records are, and shaped like a
// stream id, so record ids, index postings and page cursors keep the stream id's form.
type Ref struct {
	MS    int64
	Seq   uint32 // the entry's sequence (at most 65535)
	Place uint16
}

// Packed returns r's sequence and place as one number (the seq part of ID).
func (r Ref) Packed() uint32 { return min(r.Seq, 1<<16-1)<<16 | uint32(r.Place) }

// ID returns r's text form.
func (r Ref) ID() string {
	return strconv.FormatInt(r.MS, 10) + "-" + strconv.FormatUint(uint64(r.Packed()), 10)
}

// Entry returns the stream id of r's entry.
func (r Ref) Entry() string {
	return strconv.FormatInt(r.MS, 10) + "-" + strconv.FormatUint(uint64(r.Seq), 10)
}

// ParseRef reads a record id (Ref.ID).
func ParseRef(id string) (Ref, bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return Ref{}, false
	}
	ms, err1 := strconv.ParseInt(a, 10, 64)
	v, err2 := strconv.ParseUint(b, 10, 32)
	if err1 != nil || err2 != nil || ms < 0 {
		return Ref{}, false
	}
	return Ref{MS: ms, Seq: uint32(v >> 16), Place: uint16(v)}, true
}

// EntryRef returns the Ref of place i in the stream entry id ("ms-seq").
func EntryRef(id string, i int) (Ref, bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return Ref{}, false
	}
	ms, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || ms < 0 || i < 0 || i >= 1<<16 {
		return Ref{}, false
	}
	return Ref{MS: ms, Seq: uint32(min(seq, 1<<16-1)), Place: uint16(i)}, true
}

// Compact returns r in the agent's form (ids that are not hex digits of the right length
// become zeros), for tools and tests that write records as agents do.
func (r *Record) Compact() Compact {
	c := Compact{Node: r.Node, Host: r.Host, Method: r.Method, Path: r.Path, Status: r.Status,
		Duration: r.Duration, BytesIn: r.BytesIn, BytesOut: r.BytesOut, Client: r.Client, Route: r.Route,
		Upstream: r.Upstream, Revision: r.Revision}
	_, _ = hex.Decode(c.TraceID[:], []byte(r.TraceID))
	_, _ = hex.Decode(c.SpanID[:], []byte(r.SpanID))
	return c
}

// AppendBlock appends the records as one block's value (BlockField) to b.
func AppendBlock(b []byte, recs []Record) []byte {
	for i := range recs {
		if i > 0 {
			b = append(b, '\n')
		}
		c := recs[i].Compact()
		b = c.Append(b)
	}
	return b
}
