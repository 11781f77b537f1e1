package auth

import (
	"context"
	"fmt"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	wallclock "github.com/edgeplane/edgeplane/internal/clock"
)

// Bounds of a token's lifetime (zero: no expiry).
const (
	MinTokenTTL = time.Minute
	MaxTokenTTL = 10 * 365 * 24 * time.Hour
)

// TokenWriter is what TokenAdmin needs of the store (store.Store).
type TokenWriter interface {
	CreateToken(ctx context.Context, t store.Token) error
	ListTokens(ctx context.Context) ([]store.Token, error)
	DeleteToken(ctx context.Context, name string) (string, error)
}

// TokenAdmin creates, lists and deletes admin tokens; TokenService and
// `edgeplane-control token` both use it.
type TokenAdmin struct {
	// Store keeps the tokens. Required.
	Store TokenWriter
	// Auth, when set, forgets a deleted token at once.
	Auth *Authenticator
	// Now defaults to time.Now.
	Now func() time.Time
}

// Create makes a token for name with role, expiring after ttl (0: never), and returns it with
// its secret. Errors: *model.ValidationError naming "name", "role" or "ttl";
// model.ErrAlreadyExists; model.ErrExhausted.
func (m *TokenAdmin) Create(ctx context.Context, name, role string, ttl time.Duration) (store.Token, string, error) {
	var vs []model.FieldViolation
	if err := model.ValidateName(name); err != nil {
		vs = append(vs, model.FieldViolation{Field: "name", Description: err.Error()})
	}
	if r, ok := ParseRole(role); !ok || r == RoleAgent {
		vs = append(vs, model.FieldViolation{Field: "role", Description: fmt.Sprintf("%q is not a role: use admin, operator or viewer", role)})
	}
	if ttl != 0 && (ttl < MinTokenTTL || ttl > MaxTokenTTL) {
		vs = append(vs, model.FieldViolation{Field: "ttl", Description: fmt.Sprintf("%s is out of range: unset (no expiry) or %s to %s", ttl, MinTokenTTL, MaxTokenTTL)})
	}
	if len(vs) > 0 {
		return store.Token{}, "", &model.ValidationError{Violations: vs}
	}
	secret, hash := NewSecret()
	now := m.now()
	t := store.Token{Name: name, Role: role, Hash: hash, CreateTime: now}
	if ttl != 0 {
		t.ExpireTime = now.Add(ttl)
	}
	if err := m.Store.CreateToken(ctx, t); err != nil {
		return store.Token{}, "", err
	}
	return t, secret, nil
}

// List returns every token, by name.
func (m *TokenAdmin) List(ctx context.Context) ([]store.Token, error) { return m.Store.ListTokens(ctx) }

// Delete removes the token named name; model.ErrNotFound if there is none, a
// *model.ValidationError naming "name" if it cannot be a token's name.
func (m *TokenAdmin) Delete(ctx context.Context, name string) error {
	if err := model.ValidateName(name); err != nil {
		return &model.ValidationError{Violations: []model.FieldViolation{{Field: "name", Description: err.Error()}}}
	}
	hash, err := m.Store.DeleteToken(ctx, name)
	if err == nil && m.Auth != nil {
		m.Auth.Forget(hash)
	}
	return err
}

func (m *TokenAdmin) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return wallclock.Now().UTC()
}
