package requestlog

import (
	"fmt"
	"testing"
	"time"
)

func toMap(values []any) map[string]any {
	m := map[string]any{}
	for i := 0; i < len(values); i += 2 {
		m[values[i].(string)] = fmt.Sprint(values[i+1])
	}
	return m
}

func TestRecord_RoundTripAndMalformed(t *testing.T) {
	in := Record{TraceID: "t", SpanID: "s", Node: "n", Host: "a.test", Method: "GET", Path: "/x", Status: 503,
		Duration: 1500 * time.Microsecond, BytesIn: 10, BytesOut: 20, Client: "1.2.3.4:5", Route: "web", Upstream: "http://b", Revision: 9}
	got, err := Parse(toMap(in.Values()))
	if err != nil || got != in {
		t.Fatalf("round trip: got %+v %v, want %+v", got, err, in)
	}
	for _, field := range []string{"status", "duration_us", "bytes_in", "bytes_out", "revision", "host"} {
		m := toMap(in.Values())
		delete(m, field)
		if _, err := Parse(m); err == nil {
			t.Errorf("without %s: got nil error", field)
		}
	}
	m := toMap(in.Values())
	m["status"] = "abc"
	if _, err := Parse(m); err == nil {
		t.Errorf("status abc: got nil error")
	}
	m["status"] = "42"
	if _, err := Parse(m); err == nil {
		t.Errorf("status 42: got nil error")
	}
}
