package requestlog

import (
	"encoding/hex"
	"strconv"
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
	peers := sampleCompact() // as bench/peers/run.sh's load makes them
	peers.Node, peers.Host, peers.Method, peers.Path = "bench-trace", "bench.test", "GET", "/"
	peers.Client, peers.Route, peers.Upstream = "127.0.0.1:40012", "bench", "http://127.0.0.1:9000"
	api := sampleCompact()
	api.Node, api.Host, api.Path = "edge-eu-west-1a-07", "api.shop.example.com", "/v2/catalog/items/8812?fields=price,stock"
	for _, c := range []struct {
		name string
		c    Compact
	}{{"sample", sampleCompact()}, {"peers", peers}, {"api", api}} {
		b.Run(c.name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				buf = c.c.Append(buf[:0])
			}
		})
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

// mayNeedEscape finds a tab, a newline or a backslash at any place of text of any length
// (read 8 bytes at a time), and passes text with no byte below 11 and no backslash.
func TestCompact_EscapeCheckFindsABadByteAtAnyPlace(t *testing.T) {
	for n := 1; n <= 40; n++ {
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				s := []byte(strings.Repeat("a~Z/0.\xff\x0b", 5)[:n])
				s[at] = byte(c)
				want := c < 11 || c == '\\'
				if got := mayNeedEscape(string(s)); got != want {
					t.Fatalf("mayNeedEscape(%q): got %v, want %v", s, got, want)
				}
			}
		}
	}
	for n := 0; n <= 40; n++ {
		if s := strings.Repeat("\xff\x0b\x80~[]", 7)[:n]; mayNeedEscape(s) {
			t.Errorf("mayNeedEscape(%q): got true, want false", s)
		}
	}
}

// Numbers on every side of appendNum's own digit writing, and ids of every byte value, are
// written as strconv and encoding/hex write them.
func TestCompact_NumbersAndIdsAsTheStandardLibraryWritesThem(t *testing.T) {
	for _, n := range []int64{0, 1, 9, 10, 42, 99, 100, 200, 503, 999, 1000, 1500, 9999, 10000, 123456, 1 << 40, -1, -10001} {
		if got, want := string(appendNum(nil, n)), "\t"+strconv.FormatInt(n, 10); got != want {
			t.Errorf("appendNum(%d): got %q, want %q", n, got, want)
		}
	}
	var all [256]byte
	for i := range all {
		all[i] = byte(i)
	}
	if got, want := string(appendHex([]byte("x"), all[:])), "x"+hex.EncodeToString(all[:]); got != want {
		t.Errorf("appendHex: got %q, want %q", got, want)
	}
}
