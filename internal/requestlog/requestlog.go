// Package requestlog defines the request trace record agents publish to the request stream
// (logs:request:stream), one per proxied request, and how it is written and read: agents
// write the compact form (Compact), many records to a stream entry (a block, BlockField);
// Each and Records read blocks, entries of one compact record (Field) and the older
// field-per-value form (Values); Ref addresses a record inside its entry.
package requestlog

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Record is one proxied request.
type Record struct {
	TraceID, SpanID string
	Node            string
	Host            string
	Method, Path    string
	Status          int
	Duration        time.Duration
	BytesIn         int64
	BytesOut        int64
	Client          string // client address
	Route           string // "" when no route matched
	Upstream        string // target URL, "" when none
	Revision        int64  // config revision that served it
}

// Values returns the stream entry's field/value pairs.
func (r *Record) Values() []any {
	return []any{
		"trace_id", r.TraceID, "span_id", r.SpanID, "node", r.Node, "host", r.Host,
		"method", r.Method, "path", r.Path, "status", strconv.Itoa(r.Status),
		"duration_us", strconv.FormatInt(r.Duration.Microseconds(), 10),
		"bytes_in", strconv.FormatInt(r.BytesIn, 10), "bytes_out", strconv.FormatInt(r.BytesOut, 10),
		"client", r.Client, "route", r.Route, "upstream", r.Upstream,
		"revision", strconv.FormatInt(r.Revision, 10),
	}
}

// ErrMalformed: an entry lacks a field or has one that does not parse.
var ErrMalformed = errors.New("malformed request record")

// Parse reads a stream entry's values: a compact record (Field) or the field-per-value form.
func Parse(v map[string]any) (Record, error) {
	if IsCompact(v) {
		s, ok := v[Field].(string)
		if !ok {
			return Record{}, fmt.Errorf("%w: %s is not text", ErrMalformed, Field)
		}
		return parseCompact(s)
	}
	return parseFields(v)
}

func parseFields(v map[string]any) (Record, error) {
	return parseWith(func(k string) (string, bool) { s, ok := v[k].(string); return s, ok })
}

// parseWith reads a record whose values get returns by field name.
func parseWith(get func(name string) (string, bool)) (Record, error) {
	var r Record
	str := func(k string) string { s, _ := get(k); return s }
	num := func(k string) (int64, error) {
		s, ok := get(k)
		if !ok {
			return 0, fmt.Errorf("%w: no %s", ErrMalformed, k)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: %s=%q", ErrMalformed, k, s)
		}
		return n, nil
	}
	r.TraceID, r.SpanID, r.Node, r.Host = str("trace_id"), str("span_id"), str("node"), str("host")
	r.Method, r.Path, r.Client, r.Route, r.Upstream = str("method"), str("path"), str("client"), str("route"), str("upstream")
	status, err := num("status")
	if err != nil {
		return r, err
	}
	if status < 100 || status > 999 {
		return r, fmt.Errorf("%w: status %d", ErrMalformed, status)
	}
	r.Status = int(status)
	us, err := num("duration_us")
	if err != nil {
		return r, err
	}
	r.Duration = time.Duration(us) * time.Microsecond
	if r.BytesIn, err = num("bytes_in"); err != nil {
		return r, err
	}
	if r.BytesOut, err = num("bytes_out"); err != nil {
		return r, err
	}
	if r.Revision, err = num("revision"); err != nil {
		return r, err
	}
	if r.Host == "" || r.Method == "" {
		return r, fmt.Errorf("%w: no host or method", ErrMalformed)
	}
	return r, nil
}
