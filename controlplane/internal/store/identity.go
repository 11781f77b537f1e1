package store

import "github.com/edgeplane/edgeplane/internal/keyspace"

// identityKeys name the keys of the cluster's identities: the CA, join tokens, revocations,
// what agents were enrolled with, and their Redis credentials (keyspace documents each).
// Join tokens' hashes are keys.JoinToken(id); agents' Redis users keys.AgentUser(node).
type identityKeys struct {
	ca, tokens, revoked, revocations, enrolled, agentRedis, agentCerts, takeovers string
}

func newIdentityKeys(ks keyspace.Space) identityKeys {
	return identityKeys{
		ca:          ks.CA(),
		tokens:      ks.JoinTokens(),
		revoked:     ks.AgentsRevoked(),
		revocations: ks.AgentRevocations(),
		enrolled:    ks.AgentsEnrolled(),
		agentRedis:  ks.AgentsRedis(),
		agentCerts:  ks.AgentCerts(),
		takeovers:   ks.AgentTakeovers(),
	}
}
