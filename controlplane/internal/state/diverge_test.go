package state_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// A failover that loses the last write (done here by hand: revision, changelog entry and
// route removed, as a replica that never got them would be promoted), then a new write
// that reuses its revision: the replica notices, advances the store's revision past the
// one it had, drops the lost route and changes epoch so agents get full snapshots.
func TestState_LostWriteWithReusedRevisionIsDetected(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	st := store.New(store.Config{Client: rdb})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr})
	s := state.New(state.Config{Store: st, Tail: tail})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	defer func() { cancel(); tail.Close(); <-done }()
	<-s.Ready()

	put(t, st, "a")
	put(t, st, "b")
	lost := put(t, st, "lost")
	waitRev(t, s, lost)
	_, _, epoch := s.Watch()

	// The failover: the promoted replica never had revision 3.
	if err := rdb.Set(ctx, "{edgeplane}:revision", lost-1, 0).Err(); err != nil {
		t.Fatal(err)
	}
	loseLastEntry(t, rdb, "{edgeplane}:changelog")
	rdb.HDel(ctx, "{edgeplane}:routes", "lost")
	if reused := put(t, st, "new"); reused != lost {
		t.Fatalf("new write got revision %d, want the lost %d", reused, lost)
	}

	deadline := time.Now().Add(10 * time.Second)
	for {
		_, rev, e := s.Watch()
		names := routeNames(s)
		if e != epoch && rev > lost && names == "a,b,new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("got revision %d epoch %d routes %s; want revision > %d, epoch != %d, routes a,b,new", rev, e, names, lost, epoch)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rev, _ := st.Revision(t.Context()); rev <= lost {
		t.Errorf("store revision: got %d, want above %d", rev, lost)
	}
}

func put(t *testing.T, st *store.Store, name string) int64 {
	t.Helper()
	payload, _ := st.Encode(store.KindRoute, &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}})
	rev, err := st.Commit(t.Context(), store.Op{Kind: store.KindRoute, Name: name, Payload: payload, Fresh: true})
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

func waitRev(t *testing.T, s *state.State, rev int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Revision() < rev {
		if time.Now().After(deadline) {
			t.Fatalf("state revision: got %d, want %d", s.Revision(), rev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func routeNames(s *state.State) string {
	out := ""
	routes, _ := s.Routes()
	for i, r := range routes {
		if i > 0 {
			out += ","
		}
		out += r.GetName()
	}
	return out
}

// loseLastEntry rebuilds stream without its last entry (XDEL would keep the stream's last
// ID, which a promoted replica that never had the entry does not have).
func loseLastEntry(t *testing.T, rdb *redis.Client, stream string) {
	t.Helper()
	msgs, err := rdb.XRange(t.Context(), stream, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	rdb.Del(t.Context(), stream)
	for _, m := range msgs[:len(msgs)-1] {
		if err := rdb.XAdd(t.Context(), &redis.XAddArgs{Stream: stream, ID: m.ID, Values: m.Values}).Err(); err != nil {
			t.Fatal(err)
		}
	}
}
