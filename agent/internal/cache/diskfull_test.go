package cache

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// TestLog_DiskFull fills a real 1 MiB tmpfs under the log: appends fail (counted and
// reported once), nothing already on disk is lost, and once there is space again the next
// Flush writes the served config.
func TestLog_DiskFull(t *testing.T) {
	dir := SmallDisk(t)
	var cur served
	var events []error
	snap := &edgeplanev1.ConfigUpdate{Revision: 10, Snapshot: true, Routes: []*edgeplanev1.Route{rt("a")}}
	cur.p.Store(snap)
	l := NewLog(dir, cur.get, func(err error) { events = append(events, err) })
	t.Cleanup(l.Close)
	l.Append(snap)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	filler := FillDisk(t, dir)

	big := rt("big")
	big.PathPrefix = "/" + strings.Repeat("x", 64<<10) // more than the page the log may still have room in
	cur.p.Store(&edgeplanev1.ConfigUpdate{Revision: 11, Snapshot: true, Routes: []*edgeplanev1.Route{rt("a"), big}})
	if err := l.Append(delta(11, big)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append() on a full disk: error = %v, want ENOSPC", err)
	}
	if err := l.Flush(); err == nil {
		t.Fatal("Flush() on a full disk: error = nil, want one")
	}
	if rev, ok := l.Persisted(); ok {
		t.Errorf("Persisted() = %d, true on a full disk", rev)
	}
	if l.Failures() < 2 || len(events) != 1 || events[0] == nil {
		t.Errorf("Failures() = %d, events %v; want at least 2 failures reported once", l.Failures(), events)
	}
	if s, _, err := Load(dir); err != nil || s.GetRevision() != 10 {
		t.Errorf("cache on the full disk: %v, %v; want revision 10 intact", s.GetRevision(), err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left on the full disk", e.Name())
		}
	}

	os.Remove(filler)
	if err := l.Flush(); err != nil {
		t.Fatalf("Flush() with space again: %v", err)
	}
	if rev, ok := l.Persisted(); rev != 11 || !ok {
		t.Errorf("Persisted() = %d, %v; want 11, true", rev, ok)
	}
	if len(events) != 2 || events[1] != nil {
		t.Errorf("events %v; want the failure, then nil", events)
	}
	s, deltas, err := Load(dir)
	if err != nil || s.GetRevision() != 11 || len(deltas) != 0 {
		t.Errorf("cache after space came back: revision %d, %d deltas, %v; want the snapshot at 11", s.GetRevision(), len(deltas), err)
	}
}

// SmallDisk mounts a 1 MiB tmpfs for the test and returns it. The test is skipped where
// mounting is not permitted (not root, or in a container without CAP_SYS_ADMIN).
func SmallDisk(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a small tmpfs to fill (needs root and permission to mount): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// FillDisk writes a file in dir until the file system is full and returns its path.
func FillDisk(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return path
		}
	}
}
