package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/edgeplane/edgeplane/agent/internal/cache"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// cachedRevision returns the last revision the cache in dir holds (0 if none).
func cachedRevision(dir string) int64 {
	snap, deltas, err := cache.Load(dir)
	if err != nil {
		return 0
	}
	if len(deltas) > 0 {
		return deltas[len(deltas)-1].GetRevision()
	}
	return snap.GetRevision()
}

// TestAgent_RestartsFromCachedDeltas checks that deltas are appended to the cache and that
// a restarted agent replays them: it serves the last one.
func TestAgent_RestartsFromCachedDeltas(t *testing.T) {
	dir := t.TempDir()
	one, two := backend(t, "one"), backend(t, "two")
	cp := startControlPlane(t)
	first := startAgent(t, Config{ControlPlane: cp.addr, CacheDir: dir})
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("one", "one.test", one)}}), 1)
	waitUntil(t, "the snapshot in the cache", func() bool { return cachedRevision(dir) == 1 })
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Routes: []*edgeplanev1.Route{route("two", "two.test", two)}}), 2)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 3, BaseRevision: 2, DeletedRoutes: []string{"one"}}), 3)
	waitUntil(t, "the deltas in the cache", func() bool { return cachedRevision(dir) == 3 })
	if _, deltas, _ := cache.Load(dir); len(deltas) != 2 {
		t.Errorf("cache holds %d deltas, want 2 appended after the snapshot", len(deltas))
	}

	second := startAgent(t, Config{ControlPlane: closedAddr(t), CacheDir: dir})
	if second.Revision() != 3 || second.ConfigHash() != first.ConfigHash() || second.RouteCount() != 1 {
		t.Errorf("restarted agent serves revision %d hash %q with %d routes, want 3 %q with 1", second.Revision(), second.ConfigHash(),
			second.RouteCount(), first.ConfigHash())
	}
	if code, body := fetch(t, second.Addr(), "two.test", "/"); code != 200 || body != "two" {
		t.Errorf("from cache: got %d %q, want 200 %q", code, body, "two")
	}
}

// TestAgent_DiskFullStillAppliesAndAcks runs an agent whose cache is on a full 1 MiB tmpfs:
// it applies, serves and acknowledges every revision, logs a warning and counts the failed
// writes, and writes the cache once there is space again.
func TestAgent_DiskFullStillAppliesAndAcks(t *testing.T) {
	dir := smallDisk(t)
	one, two := backend(t, "one"), backend(t, "two")
	warned := &logCount{msg: "cannot write the config cache; serving and acknowledging configs from memory, retrying"}
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr, CacheDir: dir, Logger: slog.New(warned)})
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("one", "one.test", one)}}), 1)
	waitUntil(t, "the snapshot in the cache", func() bool { return cachedRevision(dir) == 1 })

	filler := fillDisk(t, dir)
	pad := &edgeplanev1.Route{Name: "pad"} // a delta larger than any page the log may still have room in
	for i := range 4000 {
		pad.Hosts = append(pad.Hosts, fmt.Sprintf("pad-%d.invalid", i))
	}
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Routes: []*edgeplanev1.Route{route("two", "two.test", two), pad}}), 2)
	if code, body := fetch(t, a.Addr(), "two.test", "/"); code != 200 || body != "two" {
		t.Errorf("new route on a full disk: got %d %q, want 200 %q", code, body, "two")
	}
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 3, BaseRevision: 2, DeletedRoutes: []string{"one"}}), 3)
	if warned.n.Load() != 1 {
		t.Errorf("warned %d times, want once", warned.n.Load())
	}
	if code, body := fetch(t, a.MetricsAddr(), "x", "/metrics"); code != 200 ||
		strings.Contains(body, "edgeplane_agent_config_cache_write_failures_total 0\n") ||
		!strings.Contains(body, "edgeplane_agent_config_cache_current 0\n") {
		t.Errorf("metrics on a full disk: want write failures counted and the cache not current")
	}
	if got := cachedRevision(dir); got != 1 {
		t.Errorf("cache on the full disk holds revision %d, want 1 intact", got)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "revision 3 in the cache once there is space", func() bool { return cachedRevision(dir) == 3 })
	waitUntil(t, "the cache reported current", func() bool {
		_, body := fetch(t, a.MetricsAddr(), "x", "/metrics")
		return strings.Contains(body, "edgeplane_agent_config_cache_current 1\n")
	})
}

// smallDisk mounts a 1 MiB tmpfs for the test (skipped where mounting is not permitted).
func smallDisk(t *testing.T) string {
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

// fillDisk writes a file in dir until the file system is full and returns its path.
func fillDisk(t *testing.T, dir string) string {
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
