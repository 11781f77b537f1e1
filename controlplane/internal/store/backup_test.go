package store_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// A backup restored into an empty Redis holds the same keys and values: routes, the
// changelog, a port lease (and its bitmap), a token, the CA (whatever their types).
func TestBackup_RestoredIntoAFreshRedisIsIdentical(t *testing.T) {
	box := secrets.Ephemeral()
	src, dst := sealingStore(t, box), sealingStore(t, box)
	ctx := t.Context()
	for _, n := range []string{"a", "b", "c"} {
		if _, err := put(t, src, n, store.Any, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := src.LeasePort(ctx, store.LeaseRequest{Host: "h", Purpose: "service", Owner: "o", Lo: 20000, Hi: 20010, Start: 20000}); err != nil {
		t.Fatal(err)
	}
	if err := src.CreateToken(ctx, store.Token{Name: "ci", Role: "admin", Hash: strings.Repeat("ab", 32), CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateCA(ctx, []byte("CERT"), []byte("sealed key")); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	rev, n, err := src.Backup(ctx, &backup)
	if err != nil {
		t.Fatal(err)
	}
	if rev != 3 || n < 5 {
		t.Fatalf("backup: got revision %d and %d keys, want revision 3 and at least 5 keys", rev, n)
	}

	if _, _, err := dst.RestoreBackup(ctx, bytes.NewReader(backup.Bytes()), false); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if _, _, err := dst.Backup(ctx, &again); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(keyLines(backup.String()), keyLines(again.String())); d != "" {
		t.Errorf("restored store differs (-backup +restored):\n%s", d)
	}
	_, srcItems, _ := src.Snapshot(ctx)
	gotRev, dstItems, _ := dst.Snapshot(ctx)
	if gotRev != 3 || len(dstItems) != len(srcItems) {
		t.Errorf("snapshot after restore: revision %d, %d items; want 3, %d", gotRev, len(dstItems), len(srcItems))
	}
	if cert, key, err := dst.LoadCA(ctx); err != nil || string(cert) != "CERT" || string(key) != "sealed key" {
		t.Errorf("CA after restore: got %q, %q, %v; want the CA with its key opened", cert, key, err)
	}
}

func sealingStore(t *testing.T, box *secrets.Box) *store.Store {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return store.New(store.Config{Client: rdb, Secrets: box})
}

func TestRestoreBackup_RefusesAStoreWithConfigUnlessReplace(t *testing.T) {
	src, _, _ := newStore(t)
	if _, err := put(t, src, "old", store.Any, 0); err != nil {
		t.Fatal(err)
	}
	var backup bytes.Buffer
	if _, _, err := src.Backup(t.Context(), &backup); err != nil {
		t.Fatal(err)
	}
	dst, _, rdb := newStore(t)
	for _, n := range []string{"x", "y"} {
		if _, err := put(t, dst, n, store.Any, 0); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := dst.RestoreBackup(t.Context(), bytes.NewReader(backup.Bytes()), false)
	if err == nil || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("restore over a config: got %v, want an error naming --replace", err)
	}
	if got, _ := rdb.HKeys(t.Context(), "{edgeplane}:routes").Result(); len(got) != 2 {
		t.Errorf("refused restore changed the routes: got %v, want x, y", got)
	}
	if _, _, err := dst.RestoreBackup(t.Context(), bytes.NewReader(backup.Bytes()), true); err != nil {
		t.Fatal(err)
	}
	if got, _ := rdb.HKeys(t.Context(), "{edgeplane}:routes").Result(); len(got) != 1 || got[0] != "old" {
		t.Errorf("routes after --replace: got %v, want [old]", got)
	}
}

func TestRestoreBackup_TruncatedFileIsRefused(t *testing.T) {
	src, _, _ := newStore(t)
	put(t, src, "a", store.Any, 0)
	var backup bytes.Buffer
	src.Backup(t.Context(), &backup)
	lines := strings.SplitAfter(backup.String(), "\n")
	dst, srv, _ := newStore(t)
	_, _, err := dst.RestoreBackup(t.Context(), strings.NewReader(strings.Join(lines[:len(lines)-2], "")), false)
	if err == nil || !strings.Contains(err.Error(), "truncated") {
		t.Fatalf("truncated backup: got %v, want an error saying truncated", err)
	}
	c := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer c.Close()
	if n, _ := c.DBSize(t.Context()).Result(); n != 0 {
		t.Errorf("refused restore wrote %d keys, want 0", n)
	}
}

// keyLines drops the header (its time differs) and sorts nothing: Backup lists keys in SCAN
// order, which may differ between servers, so compare as a set.
func keyLines(s string) map[string]bool {
	m := map[string]bool{}
	for _, l := range strings.Split(s, "\n")[1:] {
		if l != "" {
			m[l] = true
		}
	}
	return m
}
