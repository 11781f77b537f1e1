package store

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The restore's merge rules, on copies made up to order: whichever replica restores first,
// the latest copy of each key wins; a newer tombstone deletes; a key written after the
// wipe keeps its own fields and gains the copy's; an expired copy stays gone and expiry is
// absolute; a replica of another history cannot restore.
func TestRestoreDurable_MergeRules(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	s := New(Config{Client: rdb})
	ctx := t.Context()
	k := func(name string) string { return s.prefix() + name }
	nowMs := time.Now().UnixMilli()
	hash := func(mark int64, kv ...string) copyOf {
		c := copyOf{mark: mark, whole: mark, typ: "hash", fields: map[string]fieldCopy{}}
		for i := 0; i+1 < len(kv); i += 2 {
			c.fields[kv[i]] = fieldCopy{mark: mark, value: kv[i+1]}
		}
		return c
	}

	// After the wipe, before any restore: a token written through a replica.
	if err := rdb.HSet(ctx, k("tokens:names"), "new", "h-new").Err(); err != nil {
		t.Fatal(err)
	}
	older := map[string]copyOf{
		k("tokens"):       hash(100, "h-a", "a", "h-gone", "gone"),
		k("tokens:names"): hash(100, "a", "h-a", "new", "stale"),
		k("ca"):           {mark: 100, typ: "string", values: []string{"old-ca"}},
		k("jointoken:x"):  withExpiry(hash(100, "uses", "0"), nowMs+3_600_000),
		k("jointoken:y"):  withExpiry(hash(100, "uses", "0"), nowMs-1000),
	}
	newer := map[string]copyOf{
		k("tokens"):      hash(200, "h-a", "a", "h-b", "b"),
		k("jointoken:x"): {mark: 200, typ: "none"},
	}
	for i, c := range []map[string]copyOf{newer, older} { // the newer replica restores first
		ok, epoch, err := s.restoreDurable(ctx, "e1", c)
		if err != nil || !ok || epoch == "" {
			t.Fatalf("restore %d: got %v %q %v, want true, an epoch, nil", i, ok, epoch, err)
		}
	}
	if got := rdb.HGetAll(ctx, k("tokens")).Val(); len(got) != 2 || got["h-b"] != "b" || got["h-a"] != "a" {
		t.Errorf("tokens: got %v, want the newer copy {h-a: a, h-b: b}", got)
	}
	if got := rdb.HGetAll(ctx, k("tokens:names")).Val(); got["new"] != "h-new" || got["a"] != "h-a" {
		t.Errorf("tokens:names: got %v, want the write after the wipe kept (new: h-new) and a: h-a added", got)
	}
	if got := rdb.Get(ctx, k("ca")).Val(); got != "old-ca" {
		t.Errorf("ca: got %q, want old-ca", got)
	}
	if n := rdb.Exists(ctx, k("jointoken:x"), k("jointoken:y")).Val(); n != 0 {
		t.Errorf("a token deleted (newer tombstone) and an expired one: %d of them exist, want 0", n)
	}
	if _, err := rdb.Del(ctx, k("jointoken:x")).Result(); err != nil {
		t.Fatal(err)
	}
	ok, _, err := s.restoreDurable(ctx, "e1", map[string]copyOf{
		k("jointoken:z"): withExpiry(hash(300, "uses", "1"), nowMs+60_000),
	})
	if err != nil || !ok {
		t.Fatalf("a third replica within the window: %v %v", ok, err)
	}
	at := rdb.PExpireTime(ctx, k("jointoken:z")).Val()
	if d := at - time.Duration(nowMs+60_000)*time.Millisecond; d.Abs() > 0 {
		t.Errorf("jointoken:z expires at %v, want exactly the copy's absolute %d ms", at, nowMs+60_000)
	}
	if ok, _, err := s.restoreDurable(ctx, "e0", map[string]copyOf{k("ports"): hash(400, "h/1", "{}")}); err != nil || ok {
		t.Errorf("a replica of another history: got %v %v, want refused", ok, err)
	}
	if n := rdb.Exists(ctx, k("restore:scratch")).Val(); n != 0 {
		t.Errorf("the scratch key was left behind")
	}
}

func withExpiry(c copyOf, at int64) copyOf {
	c.expireAt = at
	return c
}

// The same copies restored oldest first end the same: a field the newer whole read did not
// list goes, and a hash the newer copy saw deleted is deleted.
func TestRestoreDurable_OlderCopyFirst(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	s := New(Config{Client: rdb})
	ctx := t.Context()
	k := func(name string) string { return s.prefix() + name }
	older := map[string]copyOf{
		k("tokens"):      {mark: 100, whole: 100, typ: "hash", fields: map[string]fieldCopy{"h-a": {mark: 100, value: "a"}, "h-gone": {mark: 100, value: "gone"}}},
		k("jointoken:x"): {mark: 100, whole: 100, typ: "hash", fields: map[string]fieldCopy{"uses": {mark: 100, value: "0"}}},
	}
	newer := map[string]copyOf{
		k("tokens"):      {mark: 200, whole: 200, typ: "hash", fields: map[string]fieldCopy{"h-a": {mark: 200, value: "a"}, "h-b": {mark: 200, value: "b"}}},
		k("jointoken:x"): {mark: 200, typ: "none"},
	}
	for i, c := range []map[string]copyOf{older, newer} {
		if ok, _, err := s.restoreDurable(ctx, "e1", c); err != nil || !ok {
			t.Fatalf("restore %d: %v %v", i, ok, err)
		}
	}
	if got := rdb.HGetAll(ctx, k("tokens")).Val(); len(got) != 2 || got["h-b"] != "b" || got["h-a"] != "a" {
		t.Errorf("tokens: got %v, want the newer copy {h-a: a, h-b: b}", got)
	}
	if n := rdb.Exists(ctx, k("jointoken:x")).Val(); n != 0 {
		t.Errorf("a join token the newer copy saw deleted exists")
	}
}
