package store

// identityKeys name the keys of the cluster's identities: the CA, join tokens, revocations,
// what agents were enrolled with, and their Redis credentials.
type identityKeys struct {
	// ca is a string: the CA certificate and its sealed key (ca.go).
	ca string
	// tokenPrefix + id is a hash per join token; tokens is the set of their ids (jointokens.go).
	tokenPrefix, tokens string
	// revoked maps node id -> revocation time (unix seconds); revocations is the channel
	// announcing each revocation (revocations.go).
	revoked, revocations string
	// enrolled maps node id -> JSON labels from its join token; agentRedis maps node id ->
	// sealed Redis password of the agent's ACL user (agentacl.go).
	enrolled, agentRedis string
	// aclPrefix starts agents' Redis user names.
	aclPrefix string
	// agentCerts maps node id -> "notBefore:fingerprint" of the newest certificate it
	// connected with; takeovers is the channel announcing each new stream (agentcerts.go).
	agentCerts, takeovers string
}

func newIdentityKeys(p string) identityKeys {
	return identityKeys{
		ca:          p + "ca",
		tokenPrefix: p + "jointoken:",
		tokens:      p + "jointokens",
		revoked:     p + "agents:revoked",
		revocations: p + "agents:revocations",
		enrolled:    p + "agents:enrolled",
		agentRedis:  p + "agents:redis",
		aclPrefix:   p[1:len(p)-2] + "-agent-",
		agentCerts:  p + "agents:certs",
		takeovers:   p + "agents:takeovers",
	}
}
