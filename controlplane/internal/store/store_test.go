package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func newStore(t *testing.T) (*store.Store, *redistest.Server, redis.UniversalClient) {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return store.New(store.Config{Client: rdb}), srv, rdb
}

func put(t *testing.T, s *store.Store, name string, pre store.Precondition, ifRev int64) (int64, error) {
	t.Helper()
	b, err := s.Encode(store.KindRoute, &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}})
	if err != nil {
		t.Fatal(err)
	}
	return s.Commit(t.Context(), store.Op{Kind: store.KindRoute, Name: name, Payload: b, Pre: pre, IfRevision: ifRev, Fresh: true})
}

func TestCommit_PreconditionsLeaveStateUntouched(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if rev, err := put(t, s, "a", store.MustCreate, 0); err != nil || rev != 1 {
		t.Fatalf("create: got rev %d err %v, want 1 nil", rev, err)
	}
	tests := []struct {
		name  string
		route string
		pre   store.Precondition
		ifRev int64
		want  error
	}{
		{"create existing", "a", store.MustCreate, 0, model.ErrAlreadyExists},
		{"update missing", "b", store.MustExist, 0, model.ErrNotFound},
		{"stale etag", "a", store.MustExist, 7, model.ErrConflict},
		{"etag on missing", "b", store.Any, 1, model.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := put(t, s, tt.route, tt.pre, tt.ifRev)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if rev, _ := s.Revision(ctx); rev != 1 {
				t.Errorf("revision after a failed write: got %d, want 1", rev)
			}
			if changes, _ := s.ReadChangelog(ctx, 0, 0); len(changes) != 1 {
				t.Errorf("changelog after a failed write: got %d entries, want 1", len(changes))
			}
		})
	}
}

func TestCommit_RevisionChangelogAndSnapshotAgree(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := put(t, s, "a", store.MustCreate, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, s, "b", store.MustCreate, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := put(t, s, "a", store.MustExist, 1); err != nil {
		t.Fatalf("update with the current etag: %v", err)
	}
	rev, err := s.Commit(ctx, store.Op{Kind: store.KindRoute, Name: "b", Delete: true, Pre: store.MustExist})
	if err != nil || rev != 4 {
		t.Fatalf("delete: got rev %d err %v, want 4 nil", rev, err)
	}
	changes, err := s.ReadChangelog(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		op := "put"
		if c.Delete {
			op = "del"
		}
		got = append(got, op+" "+c.Name)
	}
	if want := "[put b put a del b]"; fmtList(got) != want {
		t.Errorf("changelog after revision 1: got %v, want %s", got, want)
	}
	snapRev, routes, err := s.Snapshot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if snapRev != 4 || len(routes) != 1 || routes[0].Name != "a" || routes[0].Value.(*edgeplanev1.Route).GetEtag() != "3" {
		t.Errorf("snapshot: got rev %d routes %v, want rev 4 and route a at etag 3", snapRev, routes)
	}
	if oldest, _ := s.OldestChange(ctx); oldest != 1 {
		t.Errorf("oldest change: got %d, want 1", oldest)
	}
}

func TestStore_RedisDownIsUnavailable(t *testing.T) {
	s, srv, _ := newStore(t)
	srv.Stop()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := put(t, s, "a", store.MustCreate, 0); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("write: got %v, want ErrUnavailable", err)
	}
	if _, err := s.GetRoute(ctx, "a"); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("read: got %v, want ErrUnavailable", err)
	}
	srv.Start()
	if _, err := put(t, s, "a", store.MustCreate, 0); err != nil {
		t.Errorf("write after Redis came back: %v", err)
	}
}

func TestAgents_StaleSessionCannotOverwrite(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	write := func(mode store.AgentMode, token string, rev int64) {
		t.Helper()
		err := s.PutAgents(ctx, []store.AgentWrite{{Mode: mode, Token: token, Status: &edgeplanev1.Agent{NodeId: "n1", Connected: mode != store.AgentRelease, AppliedRevision: rev}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	write(store.AgentClaim, "old", 1)
	write(store.AgentClaim, "new", 2)   // the agent reconnected elsewhere
	write(store.AgentUpdate, "old", 9)  // late write of the old session
	write(store.AgentRelease, "old", 9) // the old session ends
	a, err := s.GetAgent(ctx, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if !a.GetConnected() || a.GetAppliedRevision() != 2 {
		t.Errorf("got connected=%v applied=%d, want the new session's true/2", a.GetConnected(), a.GetAppliedRevision())
	}
	if _, err := s.GetAgent(ctx, "nobody"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("unknown agent: got %v, want ErrNotFound", err)
	}
}

// One call with many writes, several to the same node, keeps their order: each write sees
// the owner the writes before it left, within a script call and across the calls of a
// pipeline.
func TestAgents_OneBatchKeepsOrder(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	w := func(mode store.AgentMode, token string, rev int64) store.AgentWrite {
		return store.AgentWrite{Mode: mode, Token: token, Status: &edgeplanev1.Agent{NodeId: "n1", Connected: mode != store.AgentRelease, AppliedRevision: rev}}
	}
	check := func(connected bool, rev int64) {
		t.Helper()
		a, err := s.GetAgent(ctx, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if a.GetConnected() != connected || a.GetAppliedRevision() != rev {
			t.Errorf("got connected=%v applied=%d, want %v/%d", a.GetConnected(), a.GetAppliedRevision(), connected, rev)
		}
	}
	put := func(ws ...store.AgentWrite) {
		t.Helper()
		if err := s.PutAgents(ctx, ws); err != nil {
			t.Fatal(err)
		}
	}
	// A stale session's late update and release, after the newer claim, do not land.
	put(w(store.AgentClaim, "old", 1), w(store.AgentClaim, "new", 2), w(store.AgentUpdate, "old", 9), w(store.AgentRelease, "old", 9))
	check(true, 2)
	// The owner's release lands; an update after it finds no owner and claims the node again.
	put(w(store.AgentUpdate, "new", 3), w(store.AgentRelease, "new", 3))
	check(false, 3)
	put(w(store.AgentRelease, "new", 4), w(store.AgentUpdate, "new", 5))
	check(true, 5)
	// So the owner is "new" again: "old" still cannot write.
	put(w(store.AgentUpdate, "old", 10))
	check(true, 5)

	// More writes than one script call carries: every one lands, encoded or not.
	var many []store.AgentWrite
	for i := range 600 {
		a := &edgeplanev1.Agent{NodeId: fmt.Sprintf("m%03d", i), Connected: true, AppliedRevision: int64(i)}
		wr := store.AgentWrite{Mode: store.AgentClaim, Token: "t", Status: a}
		if i%2 == 0 {
			b, err := proto.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			wr = store.AgentWrite{Mode: store.AgentClaim, Token: "t", Node: a.GetNodeId(), Encoded: b}
		}
		many = append(many, wr)
	}
	put(many...)
	all, err := s.ListAgents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 601 {
		t.Errorf("got %d agents, want 601", len(all))
	}
	for _, a := range all {
		if a.GetNodeId() != "n1" && fmt.Sprintf("m%03d", a.GetAppliedRevision()) != a.GetNodeId() {
			t.Errorf("agent %s: applied %d", a.GetNodeId(), a.GetAppliedRevision())
		}
	}
}

func fmtList(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}

func TestRestore_OnlyIntoAWipedStore(t *testing.T) {
	s, _, rdb := newStore(t)
	ctx := t.Context()
	b, _ := s.Encode(store.KindRoute, &edgeplanev1.Route{Name: "a"})
	_, err := s.Commit(ctx, store.Op{Kind: store.KindRoute, Name: "a", Payload: b, Pre: store.MustCreate})
	if !errors.Is(err, model.ErrUnavailable) {
		t.Fatalf("non-fresh write to a store without revision: got %v, want ErrUnavailable", err)
	}
	kept := []store.Item{
		{Kind: store.KindRoute, Name: "a", Revision: 5, Value: &edgeplanev1.Route{Name: "a", Hosts: []string{"a.test"}}},
		{Kind: store.KindService, Name: "b", Revision: 7, Value: &edgeplanev1.ServiceEndpoints{Name: "b"}},
	}
	if ok, err := s.Restore(ctx, 7, kept); err != nil || !ok {
		t.Fatalf("restore into an empty store: got %v %v, want true nil", ok, err)
	}
	if ok, err := s.Restore(ctx, 3, nil); err != nil || ok {
		t.Fatalf("second restore: got %v %v, want false nil (the store has a revision)", ok, err)
	}
	rev, items, err := s.Snapshot(ctx)
	if err != nil || rev != 7 || len(items) != 2 {
		t.Fatalf("after restore: got rev %d, %d items, err %v; want 7, 2, nil", rev, len(items), err)
	}
	if got, _ := s.GetRoute(ctx, "a"); got.GetEtag() != "5" || got.GetHosts()[0] != "a.test" {
		t.Errorf("restored route: got %v, want etag 5 and its hosts", got)
	}
	if rev, err := put(t, s, "c", store.MustCreate, 0); err != nil || rev != 8 {
		t.Errorf("write after restore: got %d %v, want 8 nil", rev, err)
	}
	if n, _ := rdb.XLen(ctx, s.ChangelogKey()).Result(); n != 1 {
		t.Errorf("changelog after restore and one write: %d entries, want 1", n)
	}
}

func TestCertificates_PrivateKeysAreSealedAtRest(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	ctx := t.Context()
	key := []byte("-----BEGIN EC PRIVATE KEY-----\nsecret\n-----END EC PRIVATE KEY-----\n")
	cert := &edgeplanev1.TlsCertificate{Name: "c", Domains: []string{"a.test"}, CertificatePem: []byte("chain"), PrivateKeyPem: key}

	if _, err := store.New(store.Config{Client: rdb}).Encode(store.KindCertificate, cert); !errors.Is(err, store.ErrNoSecretsKey) {
		t.Fatalf("without a secrets key: got %v, want ErrNoSecretsKey", err)
	}
	s := store.New(store.Config{Client: rdb, Secrets: secrets.Ephemeral()})
	payload, err := s.Encode(store.KindCertificate, cert)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, store.Op{Kind: store.KindCertificate, Name: "c", Payload: payload, Fresh: true}); err != nil {
		t.Fatal(err)
	}
	keys, _ := rdb.Keys(ctx, "*").Result()
	for _, k := range keys {
		dump, _ := rdb.Dump(ctx, k).Result()
		if strings.Contains(dump, "secret") || strings.Contains(dump, "PRIVATE KEY") {
			t.Errorf("key %s holds the plaintext private key", k)
		}
	}
	it, err := s.Get(ctx, store.KindCertificate, "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := it.Value.(*edgeplanev1.TlsCertificate).GetPrivateKeyPem(); string(got) != string(key) {
		t.Errorf("decoded key: got %q, want the original", got)
	}
}
