package fanout

import (
	"testing"
	"unsafe"
)

// A session is allocated in 256 bytes, so Go's allocator puts it at a multiple of 256 and its fields
// fall on the cache lines session's comment says: what an Ack touches on the first line, what
// a send touches on the second and third. A receiver is one line.
func TestSession_Layout(t *testing.T) {
	var s session
	if n := unsafe.Sizeof(s); n <= 240 || n > 256 { // Go's size classes: ..., 240, 256, 288, ...
		t.Errorf("a session is %d bytes, want 241 to 256: Go's allocator's 256-byte class", n)
	}
	line := func(off uintptr) uintptr { return off / 64 }
	for name, off := range map[string]uintptr{
		"mu": unsafe.Offsetof(s.mu), "ackRev": unsafe.Offsetof(s.ackRev),
		"ackHash": unsafe.Offsetof(s.ackHash), "ackPending": unsafe.Offsetof(s.ackPending), "dirty": unsafe.Offsetof(s.dirty),
	} {
		if line(off) != 0 {
			t.Errorf("%s is on line %d, want 0", name, line(off))
		}
	}
	d := unsafe.Offsetof(s.d)
	for name, off := range map[string]uintptr{
		"d.mu": d + unsafe.Offsetof(s.d.mu), "d.inflight": d + unsafe.Offsetof(s.d.inflight),
		"d.attemptedEpoch": d + unsafe.Offsetof(s.d.attemptedEpoch),
	} {
		if line(off) != 1 {
			t.Errorf("%s is on line %d, want 1", name, line(off))
		}
	}
	for name, off := range map[string]uintptr{
		"sendMu": unsafe.Offsetof(s.sendMu), "stream": unsafe.Offsetof(s.stream), "ready": unsafe.Offsetof(s.ready),
	} {
		if line(off) != 2 {
			t.Errorf("%s is on line %d, want 2", name, line(off))
		}
	}
	var r receiver
	if n := unsafe.Sizeof(r); n != 64 {
		t.Errorf("a receiver is %d bytes, want 64: one cache line", n)
	}
}
