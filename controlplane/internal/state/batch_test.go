package state_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// TestApply_BatchIsOneRevision: the state follows a batch commit as one revision, and the
// delta from the revision before it carries every change of the batch.
func TestApply_BatchIsOneRevision(t *testing.T) {
	s, st := run(t, 100)
	base := write(t, st, s, "gone", false)
	write(t, st, s, "kept", false)
	base++
	var ws []store.Write
	for _, n := range []string{"a", "b", "c"} {
		ws = append(ws, store.Write{Kind: store.KindRoute, Name: n, Value: &edgeplanev1.Route{Name: n, Hosts: []string{n + ".test"}}})
	}
	ws = append(ws, store.Write{Kind: store.KindRoute, Name: "gone", Pre: store.MustExist})
	rev, err := st.CommitBatch(t.Context(), ws, false)
	if err != nil {
		t.Fatal(err)
	}
	if rev != base+1 {
		t.Fatalf("batch revision: got %d, want %d", rev, base+1)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := s.WaitFor(ctx, rev); err != nil {
		t.Fatal(err)
	}
	routes, at := s.Routes()
	if len(routes) != 4 || at != rev {
		t.Errorf("routes: got %d at revision %d, want 4 at %d", len(routes), at, rev)
	}
	got := names(s.Update(base, 0))
	want := fmt.Sprintf("snapshot=false rev=%d upsert=[a b c] delete=[gone]", rev)
	if got != want {
		t.Errorf("delta from %d: got %s, want %s", base, got, want)
	}
}
