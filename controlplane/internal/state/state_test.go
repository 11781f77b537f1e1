package state_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func run(t *testing.T, historyLen int) (*state.State, *store.Store) {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr})
	st := store.New(store.Config{Client: rdb})
	s := state.New(state.Config{Store: st, Tail: tail, HistoryLen: historyLen})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); tail.Close(); <-done; rdb.Close() })
	<-s.Ready()
	return s, st
}

func write(t *testing.T, st *store.Store, s *state.State, name string, del bool) int64 {
	t.Helper()
	op := store.Op{Kind: store.KindRoute, Name: name, Delete: del, Fresh: true}
	if !del {
		op.Payload, _ = st.Encode(store.KindRoute, &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}})
	}
	rev, err := st.Commit(t.Context(), op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, rev); err != nil {
		t.Fatalf("state did not reach revision %d: %v", rev, err)
	}
	return rev
}

func names(u *edgeplanev1.ConfigUpdate) string {
	var up []string
	for _, r := range u.GetRoutes() {
		up = append(up, r.GetName())
	}
	slices.Sort(up)
	return fmt.Sprintf("snapshot=%v rev=%d upsert=%v delete=%v", u.GetSnapshot(), u.GetRevision(), up, u.GetDeletedRoutes())
}

func TestUpdate_DeltasCoalesceAndFallBackToSnapshots(t *testing.T) {
	s, st := run(t, 4)
	write(t, st, s, "a", false) // 1
	write(t, st, s, "b", false) // 2
	write(t, st, s, "a", false) // 3
	write(t, st, s, "c", false) // 4
	write(t, st, s, "b", true)  // 5
	write(t, st, s, "a", false) // 6
	_, _, epoch := s.Watch()
	tests := []struct {
		name  string
		base  int64
		epoch int64
		want  string
	}{
		{"current agent gets nothing", 6, epoch, "snapshot=false rev=0 upsert=[] delete=[]"},
		{"one change", 5, epoch, "snapshot=false rev=6 upsert=[a] delete=[]"},
		{"changes coalesce per route", 2, epoch, "snapshot=false rev=6 upsert=[a c] delete=[b]"},
		{"history trimmed: snapshot", 1, epoch, "snapshot=true rev=6 upsert=[a c] delete=[]"},
		{"new agent: snapshot", 0, epoch, "snapshot=true rev=6 upsert=[a c] delete=[]"},
		{"agent ahead of the store: snapshot", 9, epoch, "snapshot=true rev=6 upsert=[a c] delete=[]"},
		{"other epoch: snapshot", 5, epoch + 1, "snapshot=true rev=6 upsert=[a c] delete=[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(s.Update(tt.base, tt.epoch)); got != tt.want {
				t.Errorf("Update(%d): got %s, want %s", tt.base, got, tt.want)
			}
		})
	}
	routes, rev := s.Routes()
	if rev != 6 || len(routes) != 2 || routes[0].GetName() != "a" || routes[0].GetRevision() != 6 {
		t.Errorf("Routes: got %v at %d, want a@6 and c at 6", routes, rev)
	}
}

func TestWatch_ClosesOnEveryChange(t *testing.T) {
	s, st := run(t, 100)
	write(t, st, s, "a", false)
	ch, rev, _ := s.Watch()
	write(t, st, s, "b", false)
	select {
	case <-ch:
	default:
		t.Errorf("watch channel of revision %d not closed by the next change", rev)
	}
	if !s.Live() {
		t.Errorf("Live: got false while following the store")
	}
}

func TestUpdate_CarriesTelemetrySettings(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr})
	st := store.New(store.Config{Client: rdb})
	settings := &edgeplanev1.TelemetrySettings{RedisUrl: "redis://agent@r:6379", RequestStream: "logs:request:stream", MaxLen: 10}
	s := state.New(state.Config{Store: st, Tail: tail, Telemetry: settings, RequestBlockEncoding: "s2"})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); tail.Close(); <-done; rdb.Close() })
	<-s.Ready()
	write(t, st, s, "a", false)
	_, _, epoch := s.Watch()
	for _, u := range []*edgeplanev1.ConfigUpdate{s.Update(0, epoch), s.Update(0, epoch+1), s.Settings()} {
		if u.GetTelemetry().GetRedisUrl() != settings.GetRedisUrl() || u.GetRequestBlockEncoding() != "s2" {
			t.Errorf("update %v: no telemetry settings or block encoding", u)
		}
	}
	if u := s.Settings(); u.GetRevision() != 1 || u.GetBaseRevision() != 1 || len(u.GetRoutes()) != 0 {
		t.Errorf("Settings: got %v, want an empty delta at revision 1", u)
	}
	if state.New(state.Config{Store: st, Tail: tail}).Settings() != nil {
		t.Errorf("Settings without telemetry: got an update, want nil")
	}
	// Without agents' telemetry settings (agents with their own --redis-url), the block
	// encoding still reaches an agent that is current when it connects.
	if u := state.New(state.Config{Store: st, Tail: tail, RequestBlockEncoding: "s2"}).Settings(); u.GetRequestBlockEncoding() != "s2" || u.GetTelemetry() != nil {
		t.Errorf("Settings with only a block encoding: got %v, want it alone", u)
	}
}
