package store

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

func following(t *testing.T, srv *redistest.Server) *Store {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	sub := redis.NewClient(&redis.Options{Addr: srv.Addr})
	s := New(Config{Client: rdb})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.RunDurable(ctx, sub, nil) }()
	t.Cleanup(func() { cancel(); <-done; rdb.Close(); sub.Close() })
	waitfor.True(t, 10*time.Second, "the store follows an epoch", func() bool { return s.DurableEpoch() != "" })
	return s
}

// A write through one replica is in its own copy when acknowledged, and reaches the other
// replica's copy by its announcement, long before the next full read (10 s).
func TestMirror_FollowsWritesOfEveryReplica(t *testing.T) {
	srv := redistest.New(t)
	a, b := following(t, srv), following(t, srv)
	if err := a.CreateToken(t.Context(), Token{Name: "ops", Role: "admin", Hash: "h-ops"}); err != nil {
		t.Fatal(err)
	}
	holds := func(s *Store) bool {
		_, keys := s.mirror.state()
		f, ok := keys[s.keys.tokens].fields["h-ops"]
		return ok && !f.gone
	}
	if !holds(a) {
		t.Fatal("the writing replica's copy lacks the token it acknowledged")
	}
	waitfor.True(t, 5*time.Second, "the other replica's copy has the token", func() bool { return holds(b) })
	if _, err := b.DeleteToken(t.Context(), "ops"); err != nil {
		t.Fatal(err)
	}
	waitfor.True(t, 5*time.Second, "the deletion reaches the first replica's copy", func() bool { return !holds(a) })
}

func TestCombine_OneReadPerKey(t *testing.T) {
	got := combine([]target{
		{Key: "a", Fields: []string{"x"}}, {Key: "b"}, {Key: "a", Fields: []string{"y", "x"}},
		{Key: "c", Fields: []string{"z"}}, {Key: "c"},
	})
	want := []target{{Key: "a", Fields: []string{"x", "y"}}, {Key: "b"}, {Key: "c"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Key != want[i].Key || !slices.Equal(got[i].Fields, want[i].Fields) {
			t.Errorf("target %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
