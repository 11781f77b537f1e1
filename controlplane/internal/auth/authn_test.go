package auth

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc/metadata"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newStore(t *testing.T) (*store.Store, *redistest.Server) {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	return store.New(store.Config{Client: rdb, Namespace: "t"}), srv
}

func bearer(secret string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+secret))
}

func TestAuthenticator_Tokens(t *testing.T) {
	st, _ := newStore(t)
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	admin := &TokenAdmin{Store: st, Now: clk.Now}
	a := NewAuthenticator(Config{Enforce: true, Tokens: st, Now: clk.Now})
	ctx := t.Context()
	_, opsSecret, err := admin.Create(ctx, "ops", "operator", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, shortSecret, err := admin.Create(ctx, "short", "viewer", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ctx  context.Context
		want Principal
		err  error
	}{
		{"operator token", bearer(opsSecret), Principal{Name: "ops", Role: RoleOperator, Via: "token"}, nil},
		{"viewer token", bearer(shortSecret), Principal{Name: "short", Role: RoleViewer, Via: "token"}, nil},
		{"no credential", context.Background(), Principal{}, ErrUnauthenticated},
		{"unknown token", bearer("ept_nope"), Principal{}, ErrUnauthenticated},
		{"not bearer", metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Basic "+opsSecret)), Principal{}, ErrUnauthenticated},
		{"two headers", metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "Bearer "+opsSecret, "authorization", "Bearer x")), Principal{}, ErrUnauthenticated},
		{"oversized", bearer(string(make([]byte, 300))), Principal{}, ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Authenticate(tt.ctx)
			if !errors.Is(err, tt.err) || (tt.err == nil && err != nil) || got != tt.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, err, tt.want, tt.err)
			}
		})
	}
	clk.Add(time.Hour)
	if _, err := a.Authenticate(bearer(shortSecret)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("expired token: got %v, want ErrUnauthenticated", err)
	}
}

func TestAuthenticator_DeletedTokenStopsWorking(t *testing.T) {
	st, _ := newStore(t)
	clk := &clock{now: time.Now()}
	here := NewAuthenticator(Config{Enforce: true, Tokens: st, Now: clk.Now, CacheTTL: 5 * time.Second})
	there := NewAuthenticator(Config{Enforce: true, Tokens: st, Now: clk.Now, CacheTTL: 5 * time.Second})
	admin := &TokenAdmin{Store: st, Auth: here}
	_, secret, err := admin.Create(t.Context(), "gone", "admin", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []*Authenticator{here, there} {
		if _, err := a.Authenticate(bearer(secret)); err != nil {
			t.Fatalf("before delete: %v", err)
		}
	}
	if err := admin.Delete(t.Context(), "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := here.Authenticate(bearer(secret)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("deleting replica, at once: got %v, want ErrUnauthenticated", err)
	}
	if _, err := there.Authenticate(bearer(secret)); err != nil {
		t.Errorf("other replica within the cache TTL: got %v, want the cached principal", err)
	}
	clk.Add(5 * time.Second)
	if _, err := there.Authenticate(bearer(secret)); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("other replica after the cache TTL: got %v, want ErrUnauthenticated", err)
	}
}

func TestAuthenticator_StoreDownIsUnavailable(t *testing.T) {
	st, srv := newStore(t)
	a := NewAuthenticator(Config{Enforce: true, Tokens: st})
	srv.Stop()
	if _, err := a.Authenticate(bearer("ept_x")); !errors.Is(err, model.ErrUnavailable) {
		t.Errorf("got %v, want model.ErrUnavailable", err)
	}
}

func TestAuthenticator_OffIsInsecureAdmin(t *testing.T) {
	a := NewAuthenticator(Config{})
	if got, err := a.Authenticate(context.Background()); err != nil || got != Insecure {
		t.Errorf("got %+v, %v; want %+v", got, err, Insecure)
	}
}

func TestTokenAdmin_Create(t *testing.T) {
	st, _ := newStore(t)
	admin := &TokenAdmin{Store: st}
	ctx := t.Context()
	if _, _, err := admin.Create(ctx, "dup", "viewer", 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, tokName, role string
		ttl                 time.Duration
		field               string
		err                 error
	}{
		{"bad name", "Bad Name", "viewer", 0, "name", nil},
		{"agent role", "a", "agent", 0, "role", nil},
		{"unknown role", "a", "root", 0, "role", nil},
		{"ttl too short", "a", "viewer", time.Second, "ttl", nil},
		{"ttl too long", "a", "viewer", 11 * 365 * 24 * time.Hour, "ttl", nil},
		{"taken name", "dup", "admin", 0, "", model.ErrAlreadyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := admin.Create(ctx, tt.tokName, tt.role, tt.ttl)
			var verr *model.ValidationError
			switch {
			case tt.field != "" && (!errors.As(err, &verr) || verr.Violations[0].Field != tt.field):
				t.Errorf("got %v, want a violation of %s", err, tt.field)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("got %v, want %v", err, tt.err)
			}
		})
	}
	all, err := admin.List(ctx)
	if err != nil || len(all) != 1 || all[0].Name != "dup" || all[0].Role != "viewer" {
		t.Errorf("List: got %+v, %v; want only dup (failed writes change nothing)", all, err)
	}
	if err := admin.Delete(ctx, "nope"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Delete unknown: got %v, want ErrNotFound", err)
	}
}

func TestTokenCache_Bounded(t *testing.T) {
	c := newTokenCache(time.Minute, 3)
	now := time.Now()
	for _, h := range []string{"a", "b", "c", "d", "e"} {
		c.put(h, nil, now)
	}
	if n := len(c.entries); n != 3 {
		t.Errorf("got %d entries, want 3", n)
	}
	if _, ok := c.get("e", now); !ok {
		t.Error("the newest entry was evicted")
	}
}
