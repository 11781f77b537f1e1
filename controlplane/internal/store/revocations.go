package store

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"
)

// RevokeAgent records that every certificate of node issued at or before at (to the second)
// is revoked, and announces it to every replica on the revocations channel.
func (s *Store) RevokeAgent(ctx context.Context, node string, at time.Time) error {
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, s.keys.identity.revoked, node, at.Unix())
		p.Publish(ctx, s.keys.identity.revocations, node)
		return nil
	})
	return mapErr(err, fmt.Sprintf("revoking agent %q", node))
}

// RevokedAt returns when node's certificates were last revoked (zero time: never).
func (s *Store) RevokedAt(ctx context.Context, node string) (time.Time, error) {
	v, err := s.rdb.HGet(ctx, s.keys.identity.revoked, node).Result()
	if err == redis.Nil {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, mapErr(err, fmt.Sprintf("reading the revocation of agent %q", node))
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("revocation of agent %q: %w", node, err)
	}
	return time.Unix(n, 0), nil
}

// RevokedAmong returns the revocation times of those nodes that have one.
func (s *Store) RevokedAmong(ctx context.Context, nodes []string) (map[string]time.Time, error) {
	if len(nodes) == 0 {
		return nil, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.keys.identity.revoked, nodes...).Result()
	if err != nil {
		return nil, mapErr(err, "reading revocations")
	}
	out := map[string]time.Time{}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			if n, err := strconv.ParseInt(str, 10, 64); err == nil {
				out[nodes[i]] = time.Unix(n, 0)
			}
		}
	}
	return out, nil
}
