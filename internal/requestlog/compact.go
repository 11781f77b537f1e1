package requestlog

import (
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Field is the single field of a compact record. Its value is Version, then the record's
// values in the order of Record's fields (trace id, span id, node, host, method, path,
// status, duration µs, bytes in, bytes out, client, route, upstream, revision), separated
// by tabs; in text values a tab, a newline and a backslash are written \t, \n and \\.
//
// One field instead of fourteen: Redis parses, stores and returns a stream entry's fields
// one by one, so a compact record costs it a fraction of the field-per-value form (which
// Parse still reads, and which Values still writes for tools and tests).
const Field = "r"

// Version is the first value of a compact record.
const Version = "1"

const compactValues = 15 // Version + 14

// Compact is a request record in the form the agent has it: ids as bytes, text as views
// into its buffers (only read by Append). Append encodes it without allocating.
type Compact struct {
	TraceID           [16]byte
	SpanID            [8]byte
	Node, Host        string
	Method, Path      string
	Status            int
	Duration          time.Duration
	BytesIn, BytesOut int64
	Client, Route     string
	Upstream          string
	Revision          int64
}

// Append appends the value of Field for c to b. Hot: called once per proxied request;
// no allocation once b has room.
func (c *Compact) Append(b []byte) []byte {
	b = append(b, Version...)
	b = append(b, '\t')
	b = appendHex(b, c.TraceID[:])
	b = append(b, '\t')
	b = appendHex(b, c.SpanID[:])
	b = appendText(b, c.Node)
	b = appendText(b, c.Host)
	b = appendText(b, c.Method)
	b = appendText(b, c.Path)
	b = appendNum(b, int64(c.Status))
	b = appendNum(b, c.Duration.Microseconds())
	b = appendNum(b, c.BytesIn)
	b = appendNum(b, c.BytesOut)
	b = appendText(b, c.Client)
	b = appendText(b, c.Route)
	b = appendText(b, c.Upstream)
	return appendNum(b, c.Revision)
}

// appendNum appends a tab and n in decimal. Hot: 5 calls a record, mostly of a few digits
// (a status, a duration in µs, a revision), written here below 10,000.
func appendNum(b []byte, n int64) []byte {
	switch {
	case n < 0 || n >= 10000:
		return strconv.AppendInt(append(b, '\t'), n, 10)
	case n < 10:
		return append(b, '\t', byte('0'+n))
	case n < 100:
		return append(b, '\t', byte('0'+n/10), byte('0'+n%10))
	case n < 1000:
		return append(b, '\t', byte('0'+n/100), byte('0'+n/10%10), byte('0'+n%10))
	}
	return append(b, '\t', byte('0'+n/1000), byte('0'+n/100%10), byte('0'+n/10%10), byte('0'+n%10))
}

// appendHex appends id in lowercase hex (as hex.AppendEncode), two digits a byte from a
// table.
func appendHex(b []byte, id []byte) []byte {
	for _, c := range id {
		b = append(b, hexPairs[2*int(c)], hexPairs[2*int(c)+1])
	}
	return b
}

// hexPairs are the two hex digits of each byte value, in order.
var hexPairs = func() string {
	var b []byte
	for c := range 256 {
		b = hex.AppendEncode(b, []byte{byte(c)})
	}
	return string(b)
}()

// appendText appends a tab and s, escaping what would break the framing. Hot: most text
// needs no escape, so it is checked first and then copied whole.
func appendText(b []byte, s string) []byte {
	b = append(b, '\t')
	if mayNeedEscape(s) {
		return appendEscaped(b, s)
	}
	return append(b, s...)
}

// mayNeedEscape reports whether s holds a byte below 11 (a tab, a newline, or another
// control byte, which appendEscaped copies as is) or a backslash: false means s needs no
// escape. Hot: 8 calls a record. Text of 8 bytes or more is read 8 bytes at a time (the
// last word overlapping the one before), testing each word at once: (w - 11·ones) &^ w has a
// top bit set if and only if some byte of w is below 11, and zeros finds a backslash as a
// zero byte of w with its backslashes zeroed.
func mayNeedEscape(s string) bool {
	const tops = 0x8080808080808080
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if s[i] < 11 || s[i] == '\\' {
				return true
			}
		}
		return false
	}
	bad := func(i int) bool {
		w := word(s, i)
		return ((w-11*ones)&^w|zeros(w^'\\'*ones))&tops != 0
	}
	for i := 0; i+8 < len(s); i += 8 {
		if bad(i) {
			return true
		}
	}
	return bad(len(s) - 8)
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\t':
			b = append(b, `\t`...)
		case '\n':
			b = append(b, `\n`...)
		case '\\':
			b = append(b, `\\`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 't':
				sb.WriteByte('\t')
			case 'n':
				sb.WriteByte('\n')
			default:
				sb.WriteByte(s[i])
			}
			continue
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// IsCompact reports whether a stream entry's values are a compact record.
func IsCompact(v map[string]any) bool {
	_, ok := v[Field]
	return ok && len(v) == 1
}

// parseCompact reads a compact record's value by the field-per-value form's rules.
func parseCompact(s string) (Record, error) {
	var parts [compactValues]string
	n := 0
	for ; n < compactValues-1; n++ {
		i := strings.IndexByte(s, '\t')
		if i < 0 {
			break
		}
		parts[n], s = s[:i], s[i+1:]
	}
	parts[n] = s
	if n != compactValues-1 || strings.IndexByte(s, '\t') >= 0 || parts[0] != Version {
		return Record{}, fmt.Errorf("%w: compact record: want %d tab-separated values, version %s", ErrMalformed, compactValues, Version)
	}
	return parseWith(func(k string) (string, bool) {
		i, ok := position[k]
		if !ok {
			return "", false
		}
		return unescape(parts[i+1]), true
	})
}

// position is each field's place in a compact record (after Version).
var position = func() map[string]int {
	m := make(map[string]int, len(names))
	for i, n := range names {
		m[n] = i
	}
	return m
}()

// names are the field-per-value form's names, in compact order.
var names = [...]string{"trace_id", "span_id", "node", "host", "method", "path", "status", "duration_us",
	"bytes_in", "bytes_out", "client", "route", "upstream", "revision"}

// Fields returns r in the field-per-value form, as text (what telemetry queries show).
func (r *Record) Fields() map[string]string {
	v := r.Values()
	m := make(map[string]string, len(v)/2)
	for i := 0; i < len(v); i += 2 {
		m[v[i].(string)] = v[i+1].(string)
	}
	return m
}
