package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// replica is one control-plane replica's store, following the durable state.
func replica(t *testing.T, srv *redistest.Server, box *secrets.Box) *store.Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	sub := redis.NewClient(&redis.Options{Addr: srv.Addr})
	st := store.New(store.Config{Client: rdb, Secrets: box})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = st.RunDurable(ctx, sub, nil) }()
	t.Cleanup(func() { cancel(); <-done; rdb.Close(); sub.Close() })
	waitfor.True(t, 10*time.Second, "the replica follows the store's epoch", func() bool { return st.DurableEpoch() != "" })
	return st
}

func lease(ctx context.Context, st *store.Store, owner string) (store.PortLease, error) {
	l, _, err := st.LeasePort(ctx, store.LeaseRequest{Host: "h1", Purpose: "svc", Owner: owner, Lo: 20000, Hi: 20010, Start: 20000})
	return l, err
}

// Two replicas on one Redis acknowledge leases, tokens, a join token and the CA; the Redis
// is emptied (FLUSHALL); every acknowledged item comes back, nothing deleted or released
// before the wipe does, expiry times are kept, and a lease made after the wipe never gets
// a port another owner holds.
func TestDurable_WipeLosesNothingAcknowledged(t *testing.T) {
	srv := redistest.New(t)
	box := secrets.Ephemeral()
	a, b := replica(t, srv, box), replica(t, srv, box)
	ctx := t.Context()

	held := map[string]int{}
	for i, st := range []*store.Store{a, b, a, b} {
		owner := fmt.Sprintf("owner-%d", i)
		l, err := lease(ctx, st, owner)
		if err != nil {
			t.Fatalf("lease %s: %v", owner, err)
		}
		held[owner] = l.Port
	}
	released, err := lease(ctx, b, "released")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.ReleasePort(ctx, "h1", released.Port, "released"); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateToken(ctx, store.Token{Name: "ops", Role: "admin", Hash: "h-ops", CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := b.CreateToken(ctx, store.Token{Name: "old", Role: "viewer", Hash: "h-old", CreateTime: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteToken(ctx, "old"); err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	if err := b.CreateJoinToken(ctx, store.JoinToken{ID: "jt1", SecretHash: "s1", MaxUses: 2, Created: time.Now(), Expires: expires}); err != nil {
		t.Fatal(err)
	}
	caCert, caKey := []byte("-----CA CERT-----"), []byte("-----CA KEY-----")
	if ok, err := a.CreateCA(ctx, caCert, caKey); err != nil || !ok {
		t.Fatalf("CreateCA: %v %v", ok, err)
	}

	raw := srv.Client()
	if err := raw.FlushAll(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	// Until the replicas have put back what they hold, no port is leased.
	if _, err := lease(ctx, a, "too-early"); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("lease right after the wipe: got %v, want ErrUnavailable", err)
	}
	var fresh store.PortLease
	waitfor.Eventually(t, 20*time.Second, func() error {
		l, err := lease(ctx, b, "after-wipe")
		fresh = l
		return err
	})
	for owner, port := range held {
		if fresh.Port == port {
			t.Errorf("lease after the wipe got port %d, which %s holds", port, owner)
		}
	}
	leases, err := a.PortLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, l := range leases {
		got[l.Owner] = l.Port
	}
	for owner, port := range held {
		if got[owner] != port {
			t.Errorf("after the wipe %s holds port %d, want %d", owner, got[owner], port)
		}
	}
	if _, ok := got["released"]; ok {
		t.Errorf("a lease released before the wipe is back: %v", got)
	}
	if tok, err := b.TokenByHash(ctx, "h-ops"); err != nil || tok.Name != "ops" {
		t.Errorf("admin token after the wipe: got %v, %v; want ops", tok, err)
	}
	if _, err := b.TokenByHash(ctx, "h-old"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("token deleted before the wipe: got %v, want ErrNotFound", err)
	}
	if _, _, err := a.UseJoinToken(ctx, "jt1", "s1", "edge-1", time.Now()); err != nil {
		t.Errorf("join token after the wipe: %v", err)
	}
	at, err := raw.PExpireTime(ctx, "{edgeplane}:jointoken:jt1").Result()
	if err != nil || (at-time.Duration(expires.UnixMilli())*time.Millisecond).Abs() > time.Second {
		t.Errorf("join token expires at %v (%v), want %v (absolute, kept)", at, err, expires.UnixMilli())
	}
	cert, key, err := b.LoadCA(ctx)
	if err != nil || !bytes.Equal(cert, caCert) || !bytes.Equal(key, caKey) {
		t.Errorf("CA after the wipe: %q %q %v; want the one stored before", cert, key, err)
	}
}

// The embedded store of --dev (miniredis) runs the mirror's scripts too: a token survives
// its FLUSHALL.
func TestDurable_DevStoreWipe(t *testing.T) {
	mini := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mini.Addr()})
	sub := redis.NewClient(&redis.Options{Addr: mini.Addr()})
	st := store.New(store.Config{Client: rdb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = st.RunDurable(ctx, sub, nil) }()
	t.Cleanup(func() { cancel(); <-done; rdb.Close(); sub.Close() })
	waitfor.True(t, 10*time.Second, "the store follows an epoch", func() bool { return st.DurableEpoch() != "" })
	if err := st.CreateToken(t.Context(), store.Token{Name: "ops", Role: "admin", Hash: "h-ops"}); err != nil {
		t.Fatal(err)
	}
	mini.FlushAll()
	waitfor.Eventually(t, 10*time.Second, func() error {
		_, err := st.TokenByHash(t.Context(), "h-ops")
		return err
	})
}
