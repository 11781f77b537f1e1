package publish

import "testing"

// Once its buffer has grown to the traffic, PublishValue allocates nothing.
func TestPublishValue_AllocatesNothing(t *testing.T) {
	p := New(Config{Buffer: 1 << 12})
	rec := make([]byte, 200)
	for range 100 {
		p.PublishValue(3, "s", "r", rec)
	}
	p.values[3].cur.reset()
	if n := testing.AllocsPerRun(50, func() { p.PublishValue(3, "s", "r", rec) }); n != 0 {
		t.Errorf("PublishValue: got %v allocations, want 0", n)
	}
}
