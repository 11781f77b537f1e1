package requestlog

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

func sampleCompact() Compact {
	c := Compact{Node: "edge-1", Host: "a.test", Method: "POST", Path: "/x/y", Status: 503,
		Duration: 1500 * time.Microsecond, BytesIn: 10, BytesOut: 20, Client: "1.2.3.4", Route: "web",
		Upstream: "http://10.0.0.1:8080", Revision: 9}
	for i := range c.TraceID {
		c.TraceID[i] = byte(i + 1)
	}
	for i := range c.SpanID {
		c.SpanID[i] = byte(0xf0 + i)
	}
	return c
}

// want is c as Parse returns it.
func want(c *Compact) Record {
	return Record{TraceID: hex.EncodeToString(c.TraceID[:]), SpanID: hex.EncodeToString(c.SpanID[:]), Node: c.Node,
		Host: c.Host, Method: c.Method, Path: c.Path, Status: c.Status, Duration: c.Duration, BytesIn: c.BytesIn,
		BytesOut: c.BytesOut, Client: c.Client, Route: c.Route, Upstream: c.Upstream, Revision: c.Revision}
}

func TestCompact_RoundTripsThroughParse(t *testing.T) {
	for _, mod := range []func(*Compact){
		func(*Compact) {},
		func(c *Compact) { c.Route, c.Upstream = "", "" },                 // no route matched
		func(c *Compact) { c.Path = "/a\tb\nc\\d\\t" },                    // escaped
		func(c *Compact) { c.Host, c.Path = "h\\", "\\" },                 // a trailing backslash
		func(c *Compact) { c.Status, c.Revision, c.Duration = 101, 0, 0 }, // smallest numbers
	} {
		c := sampleCompact()
		mod(&c)
		got, err := Parse(map[string]any{Field: string(c.Append(nil))})
		if w := want(&c); err != nil || got != w {
			t.Errorf("Parse(compact %q): got %+v %v, want %+v", c.Append(nil), got, err, w)
		}
	}
}

// The compact form and the field-per-value form (older agents') parse to the same record,
// and Fields gives what the old form held.
func TestCompact_SameRecordAsFieldForm(t *testing.T) {
	c := sampleCompact()
	w := want(&c)
	old, err := Parse(toMap(w.Values()))
	if err != nil || old != w {
		t.Fatalf("field form: got %+v %v, want %+v", old, err, w)
	}
	f := w.Fields()
	if f["trace_id"] != w.TraceID || f["status"] != "503" || f["duration_us"] != "1500" || len(f) != 14 {
		t.Errorf("Fields: got %v, want the 14 fields of the old form", f)
	}
}

func TestCompact_MalformedIsRejected(t *testing.T) {
	c := sampleCompact()
	good := string(c.Append(nil))
	for name, v := range map[string]any{
		"version":       "2" + good[1:],
		"a value short": good[:len(good)-2][:len(good)-4],
		"one too many":  good + "\tx",
		"bad status":    string((&Compact{Host: "h", Method: "GET", Status: 42}).Append(nil)),
		"no host":       string((&Compact{Method: "GET", Status: 200}).Append(nil)),
		"not text":      42,
	} {
		if _, err := Parse(map[string]any{Field: v}); err == nil {
			t.Errorf("%s: got nil error", name)
		}
	}
	if IsCompact(map[string]any{Field: good, "status": "200"}) {
		t.Errorf("IsCompact with a second field: got true")
	}
}

func TestCompact_AppendAllocatesNothing(t *testing.T) {
	c := sampleCompact()
	b := make([]byte, 0, 512)
	if n := testing.AllocsPerRun(100, func() { b = c.Append(b[:0]) }); n != 0 {
		t.Errorf("Append: got %v allocations, want 0", n)
	}
}

func BenchmarkCompact_Append(b *testing.B) {
	c := sampleCompact()
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = c.Append(buf[:0])
	}
}

// BenchmarkValues is the field-per-value form, for comparison.
func BenchmarkValues(b *testing.B) {
	c := sampleCompact()
	r := want(&c)
	b.ReportAllocs()
	for b.Loop() {
		_ = r.Values()
	}
}

// Text with an escape at any place of a longer value round-trips.
func TestCompact_RoundTripsEscapesInLongText(t *testing.T) {
	for at := 0; at < 40; at++ {
		c := sampleCompact()
		p := []byte(strings.Repeat("/segment", 5))
		p[at] = "\t\n\\"[at%3]
		c.Path = string(p)
		got, err := Parse(map[string]any{Field: string(c.Append(nil))})
		if w := want(&c); err != nil || got != w {
			t.Errorf("path %q: got %+v %v, want %+v", c.Path, got, err, w)
		}
	}
}
