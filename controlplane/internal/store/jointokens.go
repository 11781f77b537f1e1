package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// JoinToken is a stored join token: everything but its secret, of which only a hash is kept.
type JoinToken struct {
	ID         string
	SecretHash string
	NodeID     string
	Labels     map[string]string
	MaxUses    int
	Uses       int
	Created    time.Time
	Expires    time.Time
}

// MaxJoinTokens bounds how many live join tokens may exist (a soft bound: admins creating
// tokens at the same instant may pass it by as many).
const MaxJoinTokens = 1000

// CreateJoinToken stores t (with Uses 0). The key expires with the token. model.ErrExhausted
// when MaxJoinTokens live tokens exist.
func (s *Store) CreateJoinToken(ctx context.Context, t JoinToken) error {
	if err := s.roomForJoinToken(ctx); err != nil {
		return err
	}
	labels, err := json.Marshal(t.Labels)
	if err != nil {
		return err
	}
	key := s.keys.JoinToken(t.ID)
	_, err = s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, key, "hash", t.SecretHash, "uses", 0, "max", t.MaxUses, "exp", t.Expires.UnixMilli(),
			"node", t.NodeID, "labels", string(labels), "created", t.Created.UnixMilli())
		p.PExpireAt(ctx, key, t.Expires)
		p.SAdd(ctx, s.keys.identity.tokens, t.ID)
		return nil
	})
	return mapErr(err, "storing a join token")
}

// roomForJoinToken refuses a new token when MaxJoinTokens are indexed, after dropping the
// expired ones from the index.
func (s *Store) roomForJoinToken(ctx context.Context) error {
	for pruned := false; ; pruned = true {
		n, err := s.rdb.SCard(ctx, s.keys.identity.tokens).Result()
		if err != nil {
			return mapErr(err, "counting join tokens")
		}
		if n < MaxJoinTokens {
			return nil
		}
		if pruned {
			return fmt.Errorf("creating a join token: %d exist, delete one first: %w", n, model.ErrExhausted)
		}
		if _, err := s.ListJoinTokens(ctx); err != nil { // drops expired ids from the index
			return err
		}
	}
}

// useTokenScript spends one use of a join token, atomically: refused (EDGEPLANE_DENIED) if
// the secret's hash differs, the token expired, every use is spent, it is fixed to another
// node id, or it is not fixed to a node id and the node id asked for enrolled before (taking
// over a known node needs a token naming it). Returns {node id, labels JSON} of the token.
//
// KEYS: the token's hash, the enrollments hash. ARGV: secret hash, now (unix ms), node id
// asked for.
var useTokenScript = redis.NewScript(`
local t = redis.call('HMGET', KEYS[1], 'hash', 'uses', 'max', 'exp', 'node', 'labels')
if not t[1] then return redis.error_reply('EDGEPLANE_DENIED unknown join token') end
if t[1] ~= ARGV[1] then return redis.error_reply('EDGEPLANE_DENIED unknown join token') end
if tonumber(t[4]) <= tonumber(ARGV[2]) then return redis.error_reply('EDGEPLANE_DENIED the join token expired') end
if tonumber(t[2]) >= tonumber(t[3]) then return redis.error_reply('EDGEPLANE_DENIED the join token is used up') end
if t[5] ~= '' and ARGV[3] ~= '' and t[5] ~= ARGV[3] then
  return redis.error_reply('EDGEPLANE_DENIED the join token is for another node id')
end
if t[5] == '' and ARGV[3] == '' then
  return redis.error_reply('EDGEPLANE_DENIED the join token names no node id: give node_id')
end
if t[5] == '' and redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then
  return redis.error_reply('EDGEPLANE_DENIED node ' .. ARGV[3] .. ' enrolled before: re-enrolling it needs a join token with its nodeId')
end
redis.call('HINCRBY', KEYS[1], 'uses', 1)
return {t[5], t[6]}
`)

// errReplyDenied prefixes the join-token script's refusals.
const errReplyDenied = "EDGEPLANE_DENIED "

// UseJoinToken spends one use of token id, whose secret hashes to secretHash, for nodeID
// (empty: whatever the token fixes). It returns the token's node id and labels, or an error
// wrapping model.ErrDenied saying why it was refused.
func (s *Store) UseJoinToken(ctx context.Context, id, secretHash, nodeID string, now time.Time) (string, map[string]string, error) {
	res, err := useTokenScript.Run(ctx, s.rdb, []string{s.keys.JoinToken(id), s.keys.identity.enrolled},
		secretHash, now.UnixMilli(), nodeID).StringSlice()
	if err != nil {
		if msg, ok := strings.CutPrefix(err.Error(), errReplyDenied); ok {
			return "", nil, fmt.Errorf("%w: %s", model.ErrDenied, msg)
		}
		return "", nil, mapErr(err, "using a join token")
	}
	var labels map[string]string
	if len(res) == 2 && res[1] != "" {
		if err := json.Unmarshal([]byte(res[1]), &labels); err != nil {
			return "", nil, fmt.Errorf("decoding join token labels: %w", err)
		}
	}
	return res[0], labels, nil
}

// ListJoinTokens returns the tokens not yet expired, ordered by id; ids of expired ones are
// dropped from the index as they are found.
func (s *Store) ListJoinTokens(ctx context.Context) ([]JoinToken, error) {
	ids, err := s.rdb.SMembers(ctx, s.keys.identity.tokens).Result()
	if err != nil {
		return nil, mapErr(err, "listing join tokens")
	}
	slices.Sort(ids)
	cmds := make([]*redis.MapStringStringCmd, len(ids))
	_, err = s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, id := range ids {
			cmds[i] = p.HGetAll(ctx, s.keys.JoinToken(id))
		}
		return nil
	})
	if err != nil {
		return nil, mapErr(err, "reading join tokens")
	}
	var out []JoinToken
	var gone []any
	for i, c := range cmds {
		if len(c.Val()) == 0 {
			gone = append(gone, ids[i])
			continue
		}
		out = append(out, decodeJoinToken(ids[i], c.Val()))
	}
	if len(gone) > 0 {
		s.rdb.SRem(ctx, s.keys.identity.tokens, gone...)
	}
	return out, nil
}

func decodeJoinToken(id string, h map[string]string) JoinToken {
	num := func(k string) int64 { n, _ := strconv.ParseInt(h[k], 10, 64); return n }
	t := JoinToken{ID: id, NodeID: h["node"], MaxUses: int(num("max")), Uses: int(num("uses")),
		Created: time.UnixMilli(num("created")), Expires: time.UnixMilli(num("exp"))}
	_ = json.Unmarshal([]byte(h["labels"]), &t.Labels)
	return t
}

// DeleteJoinToken removes a token. model.ErrNotFound if there is none.
func (s *Store) DeleteJoinToken(ctx context.Context, id string) error {
	var del *redis.IntCmd
	_, err := s.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		del = p.Del(ctx, s.keys.JoinToken(id))
		p.SRem(ctx, s.keys.identity.tokens, id)
		return nil
	})
	if err != nil {
		return mapErr(err, fmt.Sprintf("deleting join token %q", id))
	}
	if del.Val() == 0 {
		return fmt.Errorf("join token %q: %w", id, model.ErrNotFound)
	}
	return nil
}
