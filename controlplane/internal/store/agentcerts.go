package store

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// claimCertScript records the certificate a node connects with, unless the node already
// connected with a different certificate issued later (a stolen certificate from before a
// renewal then stays out). Returns 1 if recorded, 0 if refused.
//
// KEYS: the agent certificates hash. ARGV: node id, not-before (unix seconds), fingerprint.
var claimCertScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur then
  local nb, fp = string.match(cur, '^(%d+):(%x+)$')
  if fp and fp ~= ARGV[3] and tonumber(nb) > tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
return 1
`)

// ClaimAgentCert records that node connects with the certificate issued at notBefore with
// fingerprint fp, and reports false if the node has connected with a later certificate.
func (s *Store) ClaimAgentCert(ctx context.Context, node string, notBefore time.Time, fp [32]byte) (bool, error) {
	n, err := claimCertScript.Run(ctx, s.rdb, []string{s.keys.identity.agentCerts}, node, notBefore.Unix(), hex.EncodeToString(fp[:])).Int()
	if err != nil {
		return false, mapErr(err, fmt.Sprintf("recording the certificate of agent %q", node))
	}
	return n == 1, nil
}

// AnnounceTakeover tells every replica that session now serves node: they end their own
// streams of it.
func (s *Store) AnnounceTakeover(ctx context.Context, node, session string) error {
	err := s.rdb.Publish(ctx, s.keys.identity.takeovers, node+" "+session).Err()
	return mapErr(err, fmt.Sprintf("announcing the stream of agent %q", node))
}

// AgentEvents receives what WatchAgents hears.
type AgentEvents struct {
	// Revoked is called with a revoked node id.
	Revoked func(node string)
	// TakenOver is called with a node id and the session that now serves it.
	TakenOver func(node, session string)
}

// WatchAgents calls ev's functions for every revocation and takeover announced until ctx
// ends or the subscription breaks (then it returns nil; call it again). Announcements lost
// while it is not subscribed are caught by the sessions' periodic revocation check. client
// must be one that may block.
func (s *Store) WatchAgents(ctx context.Context, client redis.UniversalClient, ev AgentEvents) error {
	sub := client.Subscribe(ctx, s.keys.identity.revocations, s.keys.identity.takeovers)
	defer sub.Close()
	ch := sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return nil
		case m, ok := <-ch:
			if !ok {
				return nil
			}
			switch m.Channel {
			case s.keys.identity.revocations:
				ev.Revoked(m.Payload)
			case s.keys.identity.takeovers:
				if node, session, ok := strings.Cut(m.Payload, " "); ok {
					ev.TakenOver(node, session)
				}
			}
		}
	}
}
