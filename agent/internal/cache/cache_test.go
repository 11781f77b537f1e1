package cache

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func rt(name string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}}
}

// served is what the agent serves in these tests: the snapshot a Log compacts to.
type served struct {
	p atomic.Pointer[edgeplanev1.ConfigUpdate]
}

func (s *served) get() *edgeplanev1.ConfigUpdate { return s.p.Load() }

func delta(rev int64, routes ...*edgeplanev1.Route) *edgeplanev1.ConfigUpdate {
	return &edgeplanev1.ConfigUpdate{Revision: rev, BaseRevision: rev - 1, Routes: routes}
}

// newLog returns a Log in dir with revision 10 (routes a, b) written as its snapshot.
func newLog(t *testing.T, dir string) (*Log, *served) {
	t.Helper()
	var cur served
	snap := &edgeplanev1.ConfigUpdate{Revision: 10, Snapshot: true, Routes: []*edgeplanev1.Route{rt("a"), rt("b")},
		Certificates: []*edgeplanev1.TlsCertificate{{Name: "c", Domains: []string{"a.test"}, CertificatePem: []byte("pem"), PrivateKeyPem: []byte("key")}}}
	cur.p.Store(snap)
	l := NewLog(dir, cur.get, nil)
	if err := l.Append(snap); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(); err != nil {
		t.Fatalf("Flush() error = %v", err)
	}
	return l, &cur
}

func TestLog_AppendAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested")
	l, cur := newLog(t, dir)
	snap := cur.get()
	d11, d12 := delta(11, rt("c")), delta(12)
	d12.DeletedRoutes = []string{"a"}
	d12.Telemetry = &edgeplanev1.TelemetrySettings{RedisUrl: "redis://not-config"}
	for _, d := range []*edgeplanev1.ConfigUpdate{d11, d12} {
		if err := l.Append(d); err != nil {
			t.Fatalf("Append(%d) error = %v", d.GetRevision(), err)
		}
	}
	// The control plane sends telemetry settings on an empty delta at the same revision.
	if err := l.Append(&edgeplanev1.ConfigUpdate{Revision: 12, BaseRevision: 12,
		Telemetry: &edgeplanev1.TelemetrySettings{RequestStream: "s"}}); err != nil {
		t.Fatal(err)
	}
	if rev, ok := l.Persisted(); rev != 12 || !ok {
		t.Errorf("Persisted() = %d, %v; want 12, true", rev, ok)
	}
	gotSnap, gotDeltas, err := Load(dir)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	d12.Telemetry = nil // not config: not cached
	if diff := cmp.Diff(snap, gotSnap, protocmp.Transform()); diff != "" {
		t.Errorf("snapshot mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]*edgeplanev1.ConfigUpdate{d11, d12}, gotDeltas, protocmp.Transform()); diff != "" {
		t.Errorf("deltas mismatch (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(filepath.Join(dir, LogName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("cache log: %v, mode %v; want 0600: it holds private keys", err, fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(filepath.Join(dir, LogName))
	if strings.Contains(string(raw), "key") || strings.Contains(string(raw), "a.test") {
		t.Error("the cache log holds plaintext")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("cache directory holds %d files, want 2, the log and its seal key (no temporary files left)", len(entries))
	}
}

// TestLoad_TornTail cuts the log at every byte of its last record (a crash mid-append) and
// adds garbage after it: Load returns every whole record before the cut.
func TestLoad_TornTail(t *testing.T) {
	dir := t.TempDir()
	l, _ := newLog(t, dir)
	for rev := int64(11); rev <= 13; rev++ {
		if err := l.Append(delta(rev, rt(fmt.Sprint("r", rev)))); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, LogName)
	whole, _ := os.ReadFile(path)
	_, before, _ := Load(dir)
	if len(before) != 3 {
		t.Fatalf("Load() before cutting: %d deltas, want 3", len(before))
	}
	aead, _ := sealer(dir)
	last, _ := encodeRecord(aead, delta(13, rt("r13")))
	start := len(whole) - len(last)
	for cut := start; cut < len(whole); cut++ {
		if err := os.WriteFile(path, whole[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		snap, deltas, err := Load(dir)
		if err != nil || snap.GetRevision() != 10 || len(deltas) != 2 || deltas[1].GetRevision() != 12 {
			t.Fatalf("cut at %d of %d: snapshot %d, %d deltas, %v; want 10 then 11, 12", cut, len(whole), snap.GetRevision(), len(deltas), err)
		}
	}
	flipped := append([]byte(nil), whole...)
	flipped[len(flipped)-1] ^= 1
	for name, content := range map[string][]byte{"garbage after": append(whole[:len(whole):len(whole)], 0xff, 0x01, 0x02),
		"corrupt last record": flipped} {
		os.WriteFile(path, content, 0o600)
		_, deltas, err := Load(dir)
		want := 3
		if name == "corrupt last record" {
			want = 2
		}
		if err != nil || len(deltas) != want {
			t.Errorf("%s: %d deltas, %v; want %d", name, len(deltas), err, want)
		}
	}
}

// TestLog_AppendAfterTornTailCompactsFirst checks that a new Log over a log with a torn tail
// appends nothing after the tear: its first write is a compaction.
func TestLog_AppendAfterTornTailCompactsFirst(t *testing.T) {
	dir := t.TempDir()
	l, cur := newLog(t, dir)
	l.Append(delta(11, rt("c")))
	path := filepath.Join(dir, LogName)
	whole, _ := os.ReadFile(path)
	os.WriteFile(path, whole[:len(whole)-3], 0o600)

	restarted := NewLog(dir, cur.get, nil)
	cur.p.Store(&edgeplanev1.ConfigUpdate{Revision: 12, Snapshot: true, Routes: []*edgeplanev1.Route{rt("z")}})
	if err := restarted.Append(delta(12, rt("z"))); err != nil {
		t.Fatal(err)
	}
	if _, ok := restarted.Persisted(); ok {
		t.Error("Persisted() ok before the first compaction")
	}
	if err := restarted.Flush(); err != nil {
		t.Fatal(err)
	}
	snap, deltas, err := Load(dir)
	if err != nil || snap.GetRevision() != 12 || len(deltas) != 0 || snap.GetRoutes()[0].GetName() != "z" {
		t.Errorf("after compaction: %v, %d deltas, %v; want the snapshot at 12", snap, len(deltas), err)
	}
}

// TestLog_Compacts grows the log past twice its snapshot plus the slack and checks that
// Flush rewrites it as one snapshot of the served config.
func TestLog_Compacts(t *testing.T) {
	dir := t.TempDir()
	l, cur := newLog(t, dir)
	big := strings.Repeat("x", 64<<10)
	rev := int64(10)
	for l.size <= 2*l.base+compactSlack {
		rev++
		r := rt("big")
		r.PathPrefix = "/" + big
		if err := l.Append(delta(rev, r)); err != nil {
			t.Fatal(err)
		}
	}
	before := l.size
	cur.p.Store(&edgeplanev1.ConfigUpdate{Revision: rev, Snapshot: true, Routes: []*edgeplanev1.Route{rt("a")}})
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(dir, LogName))
	if fi.Size() >= before/10 {
		t.Errorf("log is %d bytes after compaction, %d before", fi.Size(), before)
	}
	snap, deltas, err := Load(dir)
	if err != nil || snap.GetRevision() != rev || len(deltas) != 0 {
		t.Errorf("after compaction: revision %d, %d deltas, %v; want %d, 0", snap.GetRevision(), len(deltas), err, rev)
	}
	if err := l.Append(delta(rev+1, rt("b"))); err != nil {
		t.Fatal(err)
	}
	if _, deltas, _ := Load(dir); len(deltas) != 1 {
		t.Errorf("append after compaction: %d deltas, want 1", len(deltas))
	}
}

// TestLog_CompactionKeepsConcurrentAppends serves and appends a delta while a compaction
// is writing its snapshot: whichever way the race goes, the log ends at the delta.
func TestLog_CompactionKeepsConcurrentAppends(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		var cur served
		var once sync.Once
		appended := make(chan error, 1)
		l := NewLog(dir, nil, nil)
		l.current = func() *edgeplanev1.ConfigUpdate {
			s := cur.get()
			once.Do(func() {
				go func() {
					cur.p.Store(&edgeplanev1.ConfigUpdate{Revision: 11, Snapshot: true, Routes: []*edgeplanev1.Route{rt("a"), rt("late")}})
					appended <- l.Append(delta(11, rt("late")))
				}()
			})
			return s
		}
		snap := &edgeplanev1.ConfigUpdate{Revision: 10, Snapshot: true, Routes: []*edgeplanev1.Route{rt("a")}}
		cur.p.Store(snap)
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := <-appended; err != nil {
			t.Fatal(err)
		}
		if err := l.Flush(); err != nil {
			t.Fatal(err)
		}
		if rev, ok := l.Persisted(); rev != 11 || !ok {
			t.Fatalf("Persisted() = %d, %v; want 11, true", rev, ok)
		}
		snap, deltas, err := Load(dir)
		last := snap.GetRevision()
		if len(deltas) > 0 {
			last = deltas[len(deltas)-1].GetRevision()
		}
		if err != nil || last != 11 {
			t.Fatalf("Load(): ends at %d, %v; want 11", last, err)
		}
	}
}

func TestLoad_Errors(t *testing.T) {
	tests := []struct {
		name     string
		file     string
		content  []byte
		notExist bool
	}{
		{"missing", "", nil, true},
		{"legacy garbage", FileName, []byte{0xff, 0xff, 0xff}, false},
		{"legacy not a snapshot", FileName, []byte{0x08, 0x01}, false},
		{"log garbage", LogName, []byte{0xff, 0xff, 0xff}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != nil {
				if err := os.WriteFile(filepath.Join(dir, tt.file), tt.content, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			_, _, err := Load(dir)
			if err == nil {
				t.Fatal("Load() error = nil, want an error")
			}
			if got := errors.Is(err, fs.ErrNotExist); got != tt.notExist {
				t.Errorf("errors.Is(%v, fs.ErrNotExist) = %v, want %v", err, got, tt.notExist)
			}
		})
	}
}

// TestLoad_LegacyFile reads the single-snapshot cache of an older agent; the first
// compaction replaces it with the log.
func TestLoad_LegacyFile(t *testing.T) {
	dir := t.TempDir()
	want := &edgeplanev1.ConfigUpdate{Revision: 7, Snapshot: true, Routes: []*edgeplanev1.Route{rt("old")}}
	b, _ := proto.Marshal(want)
	if err := WriteSealed(dir, FileName, b); err != nil {
		t.Fatal(err)
	}
	snap, deltas, err := Load(dir)
	if err != nil || !proto.Equal(snap, want) || len(deltas) != 0 {
		t.Fatalf("Load() = %v, %v, %v; want the legacy snapshot", snap, deltas, err)
	}
	l := NewLog(dir, func() *edgeplanev1.ConfigUpdate { return want }, nil)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("legacy cache file still there after compaction: %v", err)
	}
	if snap, _, err := Load(dir); err != nil || snap.GetRevision() != 7 {
		t.Errorf("Load() after compaction: %v, %v", snap, err)
	}
}
