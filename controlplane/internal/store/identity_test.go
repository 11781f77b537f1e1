package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func newSealingStore(t *testing.T) (*store.Store, redis.UniversalClient) {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return store.New(store.Config{Client: rdb, Secrets: secrets.Ephemeral()}), rdb
}

func TestCreateCA_OneWinnerAmongRacingReplicas(t *testing.T) {
	s, rdb := newSealingStore(t)
	var wg sync.WaitGroup
	var created atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.CreateCA(t.Context(), []byte{byte('a' + i)}, []byte("key"))
			if err != nil {
				t.Error(err)
			}
			if ok {
				created.Add(1)
			}
		}()
	}
	wg.Wait()
	if created.Load() != 1 {
		t.Fatalf("%d replicas stored a CA, want exactly 1", created.Load())
	}
	cert, key, err := s.LoadCA(t.Context())
	if err != nil || len(cert) != 1 || string(key) != "key" {
		t.Fatalf("LoadCA: %q %q %v", cert, key, err)
	}
	raw, _ := rdb.Get(t.Context(), keyspace.New("").CA()).Result()
	if len(raw) == 0 || strings.Contains(raw, `"key":"a2V5"`) {
		t.Errorf("stored CA %q: want the key sealed", raw)
	}
}

func TestUseJoinToken_CountsUsesAtomically(t *testing.T) {
	s, _ := newSealingStore(t)
	now := time.Now()
	tok := store.JoinToken{ID: "abc123", SecretHash: "h", MaxUses: 3, Labels: map[string]string{"zone": "a"},
		Created: now, Expires: now.Add(time.Hour)}
	if err := s.CreateJoinToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	var ok, denied atomic.Int32
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, labels, err := s.UseJoinToken(t.Context(), "abc123", "h", "n", now)
			switch {
			case err == nil && labels["zone"] == "a":
				ok.Add(1)
			case errors.Is(err, model.ErrDenied):
				denied.Add(1)
			default:
				t.Errorf("UseJoinToken: %v %v", labels, err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 3 || denied.Load() != 17 {
		t.Errorf("got %d uses and %d refusals, want 3 and 17", ok.Load(), denied.Load())
	}
}

func TestUseJoinToken_Refusals(t *testing.T) {
	s, _ := newSealingStore(t)
	now := time.Now()
	if err := s.PutEnrollment(t.Context(), "known", store.AgentEnrollment{}); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []store.JoinToken{
		{ID: "open01", SecretHash: "h", MaxUses: 5, Created: now, Expires: now.Add(time.Hour)},
		{ID: "fixed1", SecretHash: "h", MaxUses: 5, NodeID: "edge-1", Created: now, Expires: now.Add(time.Hour)},
	} {
		if err := s.CreateJoinToken(t.Context(), tok); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, id, hash, node string
		at                   time.Time
		wantErr              bool
	}{
		{"good", "open01", "h", "x", now, false},
		{"wrong secret", "open01", "other", "x", now, true},
		{"unknown id", "nope00", "h", "x", now, true},
		{"expired", "open01", "h", "x", now.Add(2 * time.Hour), true},
		{"fixed to another node", "fixed1", "h", "edge-2", now, true},
		{"fixed node", "fixed1", "h", "edge-1", now, false},
		{"fixed node taken from the token", "fixed1", "h", "", now, false},
		{"open token, no node id", "open01", "h", "", now, true},
		{"open token, a node that enrolled before", "open01", "h", "known", now, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := s.UseJoinToken(t.Context(), tt.id, tt.hash, tt.node, tt.at)
			if tt.wantErr != (err != nil) || (err != nil && !errors.Is(err, model.ErrDenied)) {
				t.Errorf("got %v, want error %v (ErrDenied)", err, tt.wantErr)
			}
		})
	}
	list, err := s.ListJoinTokens(t.Context())
	if err != nil || len(list) != 2 || list[0].ID != "fixed1" || list[0].Uses != 2 || list[1].Uses != 1 {
		t.Errorf("ListJoinTokens: %+v %v, want fixed1 used twice, open01 once", list, err)
	}
	if err := s.DeleteJoinToken(t.Context(), "open01"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteJoinToken(t.Context(), "open01"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
}

func TestRevokeAgent_RecordedAndAnnounced(t *testing.T) {
	s, rdb := newSealingStore(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	heard := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- s.WatchAgents(ctx, rdb, store.AgentEvents{Revoked: func(n string) { heard <- n }, TakenOver: func(string, string) {}})
	}()
	// Wait until the subscription is in place.
	for {
		n, err := rdb.PubSubNumSub(t.Context(), keyspace.New("").AgentRevocations()).Result()
		if err != nil {
			t.Fatal(err)
		}
		if n[keyspace.New("").AgentRevocations()] > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	at := time.Unix(time.Now().Unix(), 0)
	if err := s.RevokeAgent(t.Context(), "edge-1", at); err != nil {
		t.Fatal(err)
	}
	if got := <-heard; got != "edge-1" {
		t.Errorf("heard %q, want edge-1", got)
	}
	if got, err := s.RevokedAt(t.Context(), "edge-1"); err != nil || !got.Equal(at) {
		t.Errorf("RevokedAt: %v %v, want %v", got, err, at)
	}
	if got, err := s.RevokedAt(t.Context(), "edge-2"); err != nil || !got.IsZero() {
		t.Errorf("RevokedAt of a node never revoked: %v %v, want zero", got, err)
	}
	m, err := s.RevokedAmong(t.Context(), []string{"edge-1", "edge-2"})
	if err != nil || len(m) != 1 || !m["edge-1"].Equal(at) {
		t.Errorf("RevokedAmong: %v %v", m, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("WatchAgents: %v", err)
	}
}

func TestPruneAgents_RemovesOnlyOldStatuses(t *testing.T) {
	s, _ := newSealingStore(t)
	now := time.Now()
	old := &edgeplanev1.Agent{NodeId: "old", LastSeen: timestamppb.New(now.Add(-8 * 24 * time.Hour))}
	fresh := &edgeplanev1.Agent{NodeId: "fresh", LastSeen: timestamppb.New(now)}
	err := s.PutAgents(t.Context(), []store.AgentWrite{{Mode: store.AgentClaim, Token: "a", Status: old}, {Mode: store.AgentClaim, Token: "b", Status: fresh}})
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneAgents(t.Context(), now.Add(-7*24*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneAgents: %d %v, want 1", n, err)
	}
	if _, err := s.GetAgent(t.Context(), "old"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("old agent: %v, want ErrNotFound", err)
	}
	if _, err := s.GetAgent(t.Context(), "fresh"); err != nil {
		t.Errorf("fresh agent: %v", err)
	}
}

func TestClaimAgentCert_RefusesOlderCertificates(t *testing.T) {
	s, _ := newSealingStore(t)
	t0 := time.Unix(1000, 0)
	steps := []struct {
		name string
		at   time.Time
		fp   byte
		want bool
	}{
		{"first", t0, 1, true},
		{"same again", t0, 1, true},
		{"renewed", t0.Add(time.Hour), 2, true},
		{"the old one after the renewal", t0, 1, false},
		{"another of the same second", t0.Add(time.Hour), 3, true},
	}
	for _, st := range steps {
		got, err := s.ClaimAgentCert(t.Context(), "edge-1", st.at, [32]byte{st.fp})
		if err != nil || got != st.want {
			t.Errorf("%s: got %v %v, want %v", st.name, got, err, st.want)
		}
	}
}

// Join tokens are bounded: MaxJoinTokens live ones, then ErrExhausted; expired ones do not
// count.
func TestCreateJoinToken_Bounded(t *testing.T) {
	s, rdb := newSealingStore(t)
	ctx, now := t.Context(), time.Now()
	tok := func(i int, exp time.Time) store.JoinToken {
		return store.JoinToken{ID: fmt.Sprintf("tok%06d", i), SecretHash: "h", MaxUses: 1, Created: now, Expires: exp}
	}
	for i := range store.MaxJoinTokens {
		if err := s.CreateJoinToken(ctx, tok(i, now.Add(time.Hour))); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreateJoinToken(ctx, tok(-1, now.Add(time.Hour))); !errors.Is(err, model.ErrExhausted) {
		t.Fatalf("token %d: got %v, want ErrExhausted", store.MaxJoinTokens+1, err)
	}
	// One expires (its key is gone): there is room again.
	if err := rdb.Del(ctx, keyspace.New("").JoinToken("tok000007")).Err(); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateJoinToken(ctx, tok(-2, now.Add(time.Hour))); err != nil {
		t.Fatalf("after an expiry: got %v, want room", err)
	}
}
