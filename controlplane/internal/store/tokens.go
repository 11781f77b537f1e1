package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// Admin tokens live in two hashes: {ns}:tokens maps the hex SHA-256 of each token to its
// JSON record (never the token itself), and {ns}:tokens:names maps each token name to that
// hash, so names are unique and a token can be deleted by name. Tokens are not config: they
// bump no revision and never reach agents.

// MaxTokens bounds how many admin tokens may exist.
const MaxTokens = 1000

// Token is a stored admin token: everything but the secret.
type Token struct {
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Hash       string    `json:"hash"` // hex SHA-256 of the secret
	CreateTime time.Time `json:"create_time"`
	ExpireTime time.Time `json:"expire_time,omitzero"` // zero: never
}

// Expired reports whether t has expired at now.
func (t *Token) Expired(now time.Time) bool {
	return !t.ExpireTime.IsZero() && !now.Before(t.ExpireTime)
}

const errReplyFull = "EDGEPLANE_FULL"

// tokenCreateScript adds a token unless its name is taken or the store is full.
// KEYS: tokens, token names. ARGV: name, hash, record, max count.
var tokenCreateScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then
  return redis.error_reply('` + errReplyExists + `')
end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[4]) then
  return redis.error_reply('` + errReplyFull + `')
end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
`)

// tokenDeleteScript removes the token named ARGV[1]. KEYS: tokens, token names.
var tokenDeleteScript = redis.NewScript(`
local h = redis.call('HGET', KEYS[2], ARGV[1])
if not h then
  return redis.error_reply('` + errReplyNotFound + `')
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[1], h)
return h
`)

// CreateToken stores t. model.ErrAlreadyExists if its name is taken, model.ErrExhausted
// when MaxTokens exist.
func (s *Store) CreateToken(ctx context.Context, t Token) error {
	rec, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("encoding token %q: %w", t.Name, err)
	}
	err = tokenCreateScript.Run(ctx, s.rdb, []string{s.keys.tokens, s.keys.tokenNames}, t.Name, t.Hash, rec, MaxTokens).Err()
	if err != nil && strings.Contains(err.Error(), errReplyFull) {
		return fmt.Errorf("creating token %q: %d tokens exist, delete one first: %w", t.Name, MaxTokens, model.ErrExhausted)
	}
	return mapErr(err, fmt.Sprintf("creating token %q", t.Name))
}

// TokenByHash returns the token whose secret hashes to hash; model.ErrNotFound if none.
func (s *Store) TokenByHash(ctx context.Context, hash string) (*Token, error) {
	raw, err := s.rdb.HGet(ctx, s.keys.tokens, hash).Bytes()
	if err != nil {
		return nil, mapErr(err, "looking a token up")
	}
	var t Token
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("decoding a stored token: %w", err)
	}
	return &t, nil
}

// ListTokens returns every token, by name.
func (s *Store) ListTokens(ctx context.Context) ([]Token, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys.tokens).Result()
	if err != nil {
		return nil, mapErr(err, "listing tokens")
	}
	out := make([]Token, 0, len(all))
	for _, raw := range all {
		var t Token
		if err := json.Unmarshal([]byte(raw), &t); err != nil {
			return nil, fmt.Errorf("decoding a stored token: %w", err)
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DeleteToken removes the token named name and returns its hash; model.ErrNotFound if none.
func (s *Store) DeleteToken(ctx context.Context, name string) (string, error) {
	h, err := tokenDeleteScript.Run(ctx, s.rdb, []string{s.keys.tokens, s.keys.tokenNames}, name).Text()
	return h, mapErr(err, fmt.Sprintf("deleting token %q", name))
}
