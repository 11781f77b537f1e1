package fanout

import (
	"testing"
	"unsafe"
)

// A session is 256 bytes, so Go's allocator puts it at a multiple of 256 and its fields
// fall on the cache lines session's comment says: what an Ack touches on the first line, what
// a send touches on the second and third.
func TestSession_Layout(t *testing.T) {
	var s session
	if n := unsafe.Sizeof(s); n != 256 {
		t.Errorf("a session is %d bytes, want 256", n)
	}
	line := func(off uintptr) uintptr { return off / 64 }
	for name, off := range map[string]uintptr{
		"procMu": unsafe.Offsetof(s.procMu), "mu": unsafe.Offsetof(s.mu), "ackRev": unsafe.Offsetof(s.ackRev),
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
	var in inbound
	if n := unsafe.Sizeof(in); n > 64 {
		t.Errorf("an inbound is %d bytes, want at most one cache line", n)
	}
}
