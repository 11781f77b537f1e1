package tracectx

import (
	"context"
	"testing"
)

func TestParse_Table(t *testing.T) {
	const good = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"spec example", good, true},
		{"future version with extra fields", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", true},
		{"version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"zero span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"upper-case hex", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false},
		{"short", "00-4bf92f35-00f067aa0ba902b7-01", false},
		{"bad separator", "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"not hex", "00-4bf92f3577b34da6a3ce929d0e0e473z-00f067aa0ba902b7-01", false},
		{"junk after flags", good + "x", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := Parse(tt.in)
			if ok != tt.ok {
				t.Fatalf("Parse(%q): got ok=%v, want %v", tt.in, ok, tt.ok)
			}
			if ok && tt.in == good && c.String() != good {
				t.Errorf("round trip: got %q, want %q", c.String(), good)
			}
		})
	}
}

func TestNewChildAndContext(t *testing.T) {
	c := New()
	if !c.Valid() || c.Flags != 1 {
		t.Fatalf("New: got %+v, want valid and sampled", c)
	}
	child := c.Child()
	if child.TraceID != c.TraceID || child.SpanID == c.SpanID {
		t.Errorf("Child: got %+v from %+v, want the same trace and a new span", child, c)
	}
	if _, ok := From(context.Background()); ok {
		t.Errorf("From(empty): got ok")
	}
	got, ok := From(With(context.Background(), c))
	if !ok || got != c {
		t.Errorf("From(With(c)): got %+v %v, want %+v", got, ok, c)
	}
	if len(c.TraceIDString()) != 32 {
		t.Errorf("TraceIDString: got %q, want 32 hex characters", c.TraceIDString())
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for range b.N {
		c, _ := Parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		_ = c.Child().String()
	}
}
