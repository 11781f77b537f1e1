package store

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// agentScript writes agents' statuses on behalf of their sessions, for each (mode, node id,
// session token, payload) group of ARGV. A session claims the node on connect; its later
// updates and its final release only land while no other session owns the node, so a stale
// session on another replica cannot overwrite the status of the agent's newer stream. An
// update finding no owner (a wiped store) claims the node again.
//
// KEYS: agents hash, owners hash.
var agentScript = redis.NewScript(`
local written = 0
for i = 1, #ARGV, 4 do
  local mode, node, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local owner = redis.call('HGET', KEYS[2], node)
  if mode == 'claim' or not owner or owner == token then
    redis.call('HSET', KEYS[1], node, ARGV[i + 3])
    if mode == 'release' then
      redis.call('HDEL', KEYS[2], node)
    else
      redis.call('HSET', KEYS[2], node, token)
    end
    written = written + 1
  end
end
return written
`)

// agentBatch is how many status writes one script call carries; batches are pipelined, so
// other clients' commands interleave between them.
const agentBatch = 256

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

// PutAgents writes statuses, in order, in pipelined batches.
func (s *Store) PutAgents(ctx context.Context, writes []AgentWrite) error {
	var batches [][]any
	for start := 0; start < len(writes); start += agentBatch {
		chunk := writes[start:min(start+agentBatch, len(writes))]
		args := make([]any, 0, 4*len(chunk))
		for _, w := range chunk {
			b, err := proto.Marshal(w.Status)
			if err != nil {
				return fmt.Errorf("encoding agent %q: %w", w.Status.GetNodeId(), err)
			}
			args = append(args, string(w.Mode), w.Status.GetNodeId(), w.Token, b)
		}
		batches = append(batches, args)
	}
	if len(batches) == 0 {
		return nil
	}
	err := s.pipeScript(ctx, agentScript, []string{s.keys.agents, s.keys.agentOwners}, batches)
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

// pipeScript runs script once per args in one pipeline with EVALSHA, loading the script
// first when Redis does not have it (a new or restarted server).
func (s *Store) pipeScript(ctx context.Context, script *redis.Script, keys []string, args [][]any) error {
	run := func() error {
		pipe := s.rdb.Pipeline()
		for _, a := range args {
			script.EvalSha(ctx, pipe, keys, a...)
		}
		_, err := pipe.Exec(ctx)
		return err
	}
	err := run()
	if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
		if err := script.Load(ctx, s.rdb).Err(); err != nil {
			return err
		}
		err = run()
	}
	return err
}
