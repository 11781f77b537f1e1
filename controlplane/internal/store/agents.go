package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// agentScript writes agents' statuses on behalf of their sessions: ARGV is a mode, then a
// (node id, session token, payload) group per status, written in order. A session claims the node on connect; its
// later updates and its final release only land while no other session owns the node, so a
// stale session on another replica cannot overwrite the status of the agent's newer stream.
// An update finding no owner (a wiped store) claims the node again.
//
// Hot: a fleet's acks land here. The script reads every owner at once (HMGET), follows the
// groups in order in its own table, and then writes every status in one HSET and only the
// owners that changed: a few commands per call, not three per agent.
//
// KEYS: agents hash, owners hash.
var agentScript = redis.NewScript(`
local mode = ARGV[1]
local n = (#ARGV - 1) / 3
local nodes = {}
for i = 1, n do nodes[i] = ARGV[3 * i - 1] end
local was = redis.call('HMGET', KEYS[2], unpack(nodes))
local first, owner, status = {}, {}, {}
local written = 0
for i = 1, n do
  local node, token = nodes[i], ARGV[3 * i]
  if first[node] == nil then
    first[node] = was[i]
    owner[node] = was[i]
  end
  local cur = owner[node]
  if mode == 'claim' or not cur or cur == token then
    status[#status + 1] = node
    status[#status + 1] = ARGV[3 * i + 1]
    if mode == 'release' then
      owner[node] = false
    else
      owner[node] = token
    end
    written = written + 1
  end
end
if #status > 0 then
  redis.call('HSET', KEYS[1], unpack(status))
end
local set, del = {}, {}
for node, cur in pairs(owner) do
  if cur ~= first[node] then
    if cur then
      set[#set + 1] = node
      set[#set + 1] = cur
    else
      del[#del + 1] = node
    end
  end
end
if #set > 0 then
  redis.call('HSET', KEYS[2], unpack(set))
end
if #del > 0 then
  redis.call('HDEL', KEYS[2], unpack(del))
end
return written
`)

// agentBatch is how many status writes one script call carries at most (a call carries
// writes of one mode); calls are pipelined, so other clients' commands interleave between
// them.
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
	Mode  AgentMode
	Token string
	// Status is the agent's status; it is encoded here unless Encoded is set.
	Status *edgeplanev1.Agent
	// Node and Encoded, when Encoded is set, are the agent's node id and its status already
	// in wire form (Status is then not read).
	Node    string
	Encoded []byte
}

// PutAgents writes statuses, in order, in pipelined batches. Hot: once per status flush with
// a write per changed agent; the arguments of an encoded write point into writes (no copy,
// no allocation), which must not change until PutAgents returns. The commands' argument
// lists are built whole here and reused by the next call (EvalSha would copy each batch's).
func (s *Store) PutAgents(ctx context.Context, writes []AgentWrite) error {
	if len(writes) == 0 {
		return nil
	}
	bufp := agentArgs.Get().(*[]any)
	args := (*bufp)[:0]
	var batches [][]any
	from, count := 0, 0
	for i := range writes {
		w := &writes[i]
		if count == agentBatch || i > 0 && w.Mode != writes[i-1].Mode {
			batches = append(batches, args[from:len(args):len(args)])
			count = 0
		}
		if count == 0 {
			from = len(args)
			args = append(args, "evalsha", agentScript.Hash(), 2, s.keys.agents, s.keys.agentOwners, modeArg(w.Mode))
		}
		count++
		if w.Encoded != nil {
			args = append(args, &w.Node, &w.Token, (*wireBytes)(&w.Encoded))
			continue
		}
		b, err := proto.Marshal(w.Status)
		if err != nil {
			return fmt.Errorf("encoding agent %q: %w", w.Status.GetNodeId(), err)
		}
		args = append(args, w.Status.GetNodeId(), w.Token, b)
	}
	batches = append(batches, args[from:len(args):len(args)])
	err := s.pipeScript(ctx, agentScript, batches)
	clear(args) // keep no status alive
	if cap(args) <= maxKeptArgs {
		*bufp = args[:0]
		agentArgs.Put(bufp)
	}
	return mapErr(err, "writing agent status")
}

// agentArgs holds argument lists for PutAgents to reuse.
var agentArgs = sync.Pool{New: func() any { return new([]any) }}

// maxKeptArgs bounds the argument list PutAgents keeps for the next call (about 65,000
// statuses).
const maxKeptArgs = 3 << 16

// wireBytes is a script argument given by pointer, which converts to any without allocating.
type wireBytes []byte

// MarshalBinary returns the bytes as they are (go-redis writes arguments with it).
func (b *wireBytes) MarshalBinary() ([]byte, error) { return *b, nil }

// modeArg is m as a script argument; the known modes convert to any without allocating.
func modeArg(m AgentMode) any {
	switch m {
	case AgentClaim:
		return string(AgentClaim)
	case AgentUpdate:
		return string(AgentUpdate)
	case AgentRelease:
		return string(AgentRelease)
	}
	return string(m)
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

// pipeScript runs script's commands in one pipeline: each is a whole EVALSHA command
// ("evalsha", the script's hash, 2, two keys, then its arguments). It loads the script first
// when Redis does not have it (a new or restarted server).
func (s *Store) pipeScript(ctx context.Context, script *redis.Script, cmds [][]any) error {
	run := func() error {
		pipe := s.rdb.Pipeline()
		for _, a := range cmds {
			cmd := redis.NewCmd(ctx, a...)
			cmd.SetFirstKeyPos(3)
			_ = pipe.Process(ctx, cmd)
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
