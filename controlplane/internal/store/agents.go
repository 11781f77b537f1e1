package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// agentScript writes an agent's status on behalf of one session. A session claims the node on
// connect; later updates and the final release only land while it still owns the node, so a
// stale session on another replica cannot overwrite the status of the agent's newer stream.
//
// KEYS: agents hash, owners hash. ARGV: mode (claim|update|release), node id, session token,
// payload.
var agentScript = redis.NewScript(`
if ARGV[1] ~= 'claim' and redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[3] then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[4])
if ARGV[1] == 'claim' then
  redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
elseif ARGV[1] == 'release' then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 1
`)

// AgentMode says how an AgentWrite relates to the session's ownership of the node.
type AgentMode string

// Agent write modes.
const (
	AgentClaim   AgentMode = "claim"
	AgentUpdate  AgentMode = "update"
	AgentRelease AgentMode = "release"
)

// AgentWrite is one status write by a session (identified by Token).
type AgentWrite struct {
	Mode   AgentMode
	Token  string
	Status *edgeplanev1.Agent
}

// PutAgents writes statuses in one pipeline.
func (s *Store) PutAgents(ctx context.Context, writes []AgentWrite) error {
	if len(writes) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	keys := []string{s.keys.agents, s.keys.agentOwners}
	for _, w := range writes {
		b, err := proto.Marshal(w.Status)
		if err != nil {
			return fmt.Errorf("encoding agent %q: %w", w.Status.GetNodeId(), err)
		}
		agentScript.Run(ctx, pipe, keys, string(w.Mode), w.Status.GetNodeId(), w.Token, b)
	}
	_, err := pipe.Exec(ctx)
	return mapErr(err, "writing agent status")
}

// ListAgents reads every agent's last written status.
func (s *Store) ListAgents(ctx context.Context) ([]*edgeplanev1.Agent, error) {
	all, err := s.rdb.HGetAll(ctx, s.keys.agents).Result()
	if err != nil {
		return nil, mapErr(err, "reading agents")
	}
	out := make([]*edgeplanev1.Agent, 0, len(all))
	for node, v := range all {
		a := &edgeplanev1.Agent{}
		if err := proto.Unmarshal([]byte(v), a); err != nil {
			return nil, fmt.Errorf("decoding agent %q: %w", node, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// GetAgent reads one agent's status. model.ErrNotFound if it never connected.
func (s *Store) GetAgent(ctx context.Context, node string) (*edgeplanev1.Agent, error) {
	v, err := s.rdb.HGet(ctx, s.keys.agents, node).Result()
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("reading agent %q", node))
	}
	a := &edgeplanev1.Agent{}
	if err := proto.Unmarshal([]byte(v), a); err != nil {
		return nil, fmt.Errorf("decoding agent %q: %w", node, err)
	}
	return a, nil
}
