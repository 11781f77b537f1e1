package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

// AgentEnrollment is what the control plane remembers of an enrolled agent.
type AgentEnrollment struct {
	// Labels from its join token; they win over the labels in its Hello.
	Labels map[string]string
}

// PutEnrollment records node's enrollment.
func (s *Store) PutEnrollment(ctx context.Context, node string, e AgentEnrollment) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return mapErr(s.rdb.HSet(ctx, s.keys.identity.enrolled, node, b).Err(), fmt.Sprintf("recording enrollment of %q", node))
}

// Enrollment returns node's enrollment; the zero value if it has none.
func (s *Store) Enrollment(ctx context.Context, node string) (AgentEnrollment, error) {
	var e AgentEnrollment
	b, err := s.rdb.HGet(ctx, s.keys.identity.enrolled, node).Bytes()
	if err == redis.Nil {
		return e, nil
	}
	if err != nil {
		return e, mapErr(err, fmt.Sprintf("reading enrollment of %q", node))
	}
	return e, json.Unmarshal(b, &e)
}

// AgentRedisUser returns the name of node's Redis ACL user.
func (s *Store) AgentRedisUser(node string) string { return s.keys.AgentUser(node) }

// CreateAgentRedisUser (re)creates node's Redis ACL user with a new random password, allowed
// only XADD on stream (nothing else: no reads, no other key, no channel; CLUSTER SLOTS too,
// which a Cluster client needs to find the stream's node), and keeps the
// password sealed for AgentRedisPassword. Needs a control-plane Redis user that may run ACL
// SETUSER. The user is made on every server agents may publish to (aclEverywhere: every
// Cluster node, or the primary and its replicas), so a failover keeps it; it fails unless
// every one of them took it. Returns the user name and password.
func (s *Store) CreateAgentRedisUser(ctx context.Context, node, stream string) (string, string, error) {
	if s.secrets == nil {
		return "", "", ErrNoSecretsKey
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	pw, user := hex.EncodeToString(b[:]), s.AgentRedisUser(node)
	err := s.aclEverywhere(ctx, "ACL", "SETUSER", user, "reset", "on", ">"+pw, "resetkeys", "~"+globEscape(stream),
		"resetchannels", "-@all", "+xadd", "+cluster|slots")
	if err != nil {
		return "", "", mapErr(err, fmt.Sprintf("creating the Redis user of agent %q", node))
	}
	err = s.rdb.HSet(ctx, s.keys.identity.agentRedis, node, s.secrets.SealFor("agent-redis/"+node, []byte(pw))).Err()
	return user, pw, mapErr(err, fmt.Sprintf("storing the Redis password of agent %q", node))
}

// AgentRedisPassword returns node's Redis password ("" if it has no user).
func (s *Store) AgentRedisPassword(ctx context.Context, node string) (string, error) {
	if s.secrets == nil {
		return "", ErrNoSecretsKey
	}
	v, err := s.rdb.HGet(ctx, s.keys.identity.agentRedis, node).Bytes()
	if err == redis.Nil {
		return "", nil
	}
	if err != nil {
		return "", mapErr(err, fmt.Sprintf("reading the Redis password of agent %q", node))
	}
	pw, err := s.secrets.OpenFor("agent-redis/"+node, v)
	return string(pw), err
}

// DeleteAgentRedisUser deletes node's Redis user, on every server it was made on, and its
// password.
func (s *Store) DeleteAgentRedisUser(ctx context.Context, node string) error {
	if err := s.aclEverywhere(ctx, "ACL", "DELUSER", s.AgentRedisUser(node)); err != nil {
		return mapErr(err, fmt.Sprintf("deleting the Redis user of agent %q", node))
	}
	return mapErr(s.rdb.HDel(ctx, s.keys.identity.agentRedis, node).Err(), "deleting an agent's Redis password")
}

// globEscape escapes Redis glob characters so a key pattern matches name only.
func globEscape(name string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`, `]`, `\]`)
	return r.Replace(name)
}
