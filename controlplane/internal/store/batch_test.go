package store_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func route(name string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}}
}

// TestCommitBatch_OneRevisionAllOrNothing: a batch is one revision and one changelog entry
// whose changes all carry it; a batch with one failing precondition writes nothing.
func TestCommitBatch_OneRevisionAllOrNothing(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := t.Context()
	if _, err := put(t, s, "old", store.MustCreate, 0); err != nil {
		t.Fatal(err)
	}
	meta := &edgeplanev1.Certificate{Name: "shop", Domains: []string{"shop.test"}}
	rev, err := s.CommitBatch(ctx, []store.Write{
		{Kind: store.KindRoute, Name: "a", Value: route("a"), Pre: store.MustCreate},
		{Kind: store.KindRoute, Name: "b", Value: route("b"), Pre: store.MustCreate},
		{Kind: store.KindRoute, Name: "old", Pre: store.MustExist, IfVersion: 1},
		{Kind: store.MetaCertificate, Name: "shop", Value: meta, Pre: store.MustCreate},
	}, false)
	if err != nil || rev != 2 {
		t.Fatalf("batch: got rev %d err %v, want 2 nil", rev, err)
	}
	changes, err := s.ReadChangelog(ctx, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 {
		t.Fatalf("changes after revision 1: got %d, want 3 (a, b, old deleted)", len(changes))
	}
	for _, c := range changes {
		if c.Revision != 2 {
			t.Errorf("change %s %q: got revision %d, want 2", c.Kind, c.Name, c.Revision)
		}
	}
	if !changes[2].Delete || changes[2].Name != "old" {
		t.Errorf("third change: got %+v, want the deletion of old", changes[2])
	}
	if c, err := s.GetCertMeta(ctx, "shop"); err != nil || c.GetEtag() != "1" {
		t.Errorf("certificate metadata: got %v %v, want etag 1", c, err)
	}

	_, err = s.CommitBatch(ctx, []store.Write{
		{Kind: store.KindRoute, Name: "c", Value: route("c"), Pre: store.MustCreate},
		{Kind: store.KindRoute, Name: "a", Value: route("a"), Pre: store.MustExist, IfVersion: 1},
	}, false)
	if !errors.Is(err, model.ErrConflict) {
		t.Fatalf("stale version in a batch: got %v, want ErrConflict", err)
	}
	if rev, _ := s.Revision(ctx); rev != 2 {
		t.Errorf("revision after a failed batch: got %d, want 2", rev)
	}
	if _, err := s.GetRoute(ctx, "c"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("route c after a failed batch: got %v, want ErrNotFound", err)
	}
}

// TestCommitBatch_AThousandWrites: the largest apply (apply.MaxObjects) fits one script
// call and one changelog entry (Lua's unpack has a limit of about 8,000 values).
func TestCommitBatch_AThousandWrites(t *testing.T) {
	s, _, _ := newStore(t)
	ws := make([]store.Write, 1000)
	for i := range ws {
		name := fmt.Sprintf("r%04d", i)
		ws[i] = store.Write{Kind: store.KindRoute, Name: name, Value: route(name), Pre: store.MustCreate}
	}
	rev, err := s.CommitBatch(t.Context(), ws, true)
	if err != nil || rev != 1 {
		t.Fatalf("got rev %d err %v, want 1 nil", rev, err)
	}
	changes, err := s.ReadChangelog(t.Context(), 0, 0)
	if err != nil || len(changes) != 1000 {
		t.Fatalf("changes: got %d %v, want 1000", len(changes), err)
	}
}
