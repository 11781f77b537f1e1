package store_test

import (
	"errors"
	"testing"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// TestScripts_RefusalsOnBothStores: the shared Lua body's refusals map to the model's
// errors on a real redis-server and on the embedded store of --dev (miniredis, whose Lua
// reports errors differently), for single writes, batches and metadata writes alike.
func TestScripts_RefusalsOnBothStores(t *testing.T) {
	real, _, _ := newStore(t)
	mini := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mini.Addr()})
	t.Cleanup(func() { rdb.Close() })
	stores := map[string]*store.Store{"redis-server": real, "dev store": store.New(store.Config{Client: rdb})}
	for name, s := range stores {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			if _, err := put(t, s, "a", store.MustCreate, 0); err != nil {
				t.Fatal(err)
			}
			if _, err := put(t, s, "a", store.MustCreate, 0); !errors.Is(err, model.ErrAlreadyExists) {
				t.Errorf("create twice: got %v, want ErrAlreadyExists", err)
			}
			if _, err := put(t, s, "b", store.MustExist, 0); !errors.Is(err, model.ErrNotFound) {
				t.Errorf("update missing: got %v, want ErrNotFound", err)
			}
			if _, err := put(t, s, "a", store.MustExist, 9); !errors.Is(err, model.ErrConflict) {
				t.Errorf("stale version: got %v, want ErrConflict", err)
			}
			_, err := s.CommitBatch(ctx, []store.Write{{Kind: store.KindRoute, Name: "a", Value: route("a"), Pre: store.MustCreate}}, false)
			if !errors.Is(err, model.ErrAlreadyExists) {
				t.Errorf("batch creating an existing route: got %v, want ErrAlreadyExists", err)
			}
			svc := &edgeplanev1.Service{Name: "web", Image: "x"}
			if _, err := s.CreateService(ctx, svc); err != nil {
				t.Fatal(err)
			}
			if _, err := s.PutService(ctx, svc, 5); !errors.Is(err, model.ErrConflict) {
				t.Errorf("service at a stale version: got %v, want ErrConflict", err)
			}
		})
	}
}
