package store_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func TestTokens_CreateLookUpDeleteAndBound(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := store.New(store.Config{Client: rdb, Namespace: "t"})
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	tok := store.Token{Name: "ops", Role: "admin", Hash: "h-ops", CreateTime: now, ExpireTime: now.Add(time.Hour)}
	if err := st.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := st.TokenByHash(ctx, "h-ops")
	if err != nil || *got != tok {
		t.Fatalf("TokenByHash: got %+v, %v; want %+v", got, err, tok)
	}
	if err := st.CreateToken(ctx, store.Token{Name: "ops", Role: "viewer", Hash: "h-other"}); !errors.Is(err, model.ErrAlreadyExists) {
		t.Errorf("same name: got %v, want ErrAlreadyExists", err)
	}
	if _, err := st.TokenByHash(ctx, "h-other"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("a refused create left its hash: %v", err)
	}
	for i := 1; i < store.MaxTokens; i++ {
		if err := st.CreateToken(ctx, store.Token{Name: fmt.Sprintf("t%d", i), Role: "viewer", Hash: fmt.Sprintf("h%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.CreateToken(ctx, store.Token{Name: "one-more", Role: "viewer", Hash: "h-more"}); !errors.Is(err, model.ErrExhausted) {
		t.Errorf("token %d: got %v, want ErrExhausted", store.MaxTokens+1, err)
	}
	hash, err := st.DeleteToken(ctx, "ops")
	if err != nil || hash != "h-ops" {
		t.Fatalf("DeleteToken: got %q, %v", hash, err)
	}
	if _, err := st.TokenByHash(ctx, "h-ops"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("after delete: got %v, want ErrNotFound", err)
	}
	if _, err := st.DeleteToken(ctx, "ops"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("second delete: got %v, want ErrNotFound", err)
	}
	all, err := st.ListTokens(ctx)
	if err != nil || len(all) != store.MaxTokens-1 || all[0].Name != "t1" {
		t.Errorf("ListTokens: got %d tokens (first %+v), %v", len(all), all[0], err)
	}
}
