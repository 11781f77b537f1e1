package keyspace

// State keys: the control plane's state, all under the namespace's hash tag "{ns}:" so the
// store's scripts may touch any of them together on Redis Cluster. Only the control plane's
// store package reads and writes them.

// Revision is a string: the global config revision, bumped by every config write.
func (s Space) Revision() string { return s.state + "revision" }

// Changelog is a stream: one entry per config revision ("<revision>-0"), trimmed MAXLEN ~.
func (s Space) Changelog() string { return s.state + "changelog" }

// Routes, Certificates, Challenges and Services are the config kinds' hashes: name ->
// "<revision>:<protobuf>".
func (s Space) Routes() string       { return s.state + "routes" }
func (s Space) Certificates() string { return s.state + "certificates" }
func (s Space) Challenges() string   { return s.state + "challenges" }
func (s Space) Services() string     { return s.state + "services" }

// Agents is a hash: node id -> the agent's status JSON (fleet table).
func (s Space) Agents() string { return s.state + "agents" }

// AgentOwners is a hash: node id -> the replica session owning its status.
func (s Space) AgentOwners() string { return s.state + "agents:owner" }

// Ports is a hash: "<host>/<port>" -> lease JSON.
func (s Space) Ports() string { return s.state + "ports" }

// PortOwners is a hash: "<host>/<purpose>/<owner>" -> port.
func (s Space) PortOwners() string { return s.state + "ports:owners" }

// PortsUsed is a bitmap of host's leased ports (bit p set: port p leased).
func (s Space) PortsUsed(host string) string { return s.state + "ports:used:" + host }

// DockerServices is a hash: service name -> "<version>:<definition JSON>".
func (s Space) DockerServices() string { return s.state + "docker:services" }

// DockerEvent is a string set (NX, with a TTL) by the one replica that handles the Docker
// engine event id.
func (s Space) DockerEvent(id string) string { return s.state + "docker:events:" + id }

// CertificateMeta is a hash: certificate name -> "<version>:<metadata JSON>".
func (s Space) CertificateMeta() string { return s.state + "certificates:meta" }

// CertificateLock is a string: the token of the replica issuing certificate name (PX).
func (s Space) CertificateLock(name string) string { return s.state + "certificates:lock:" + name }

// ACMEAccounts is a hash: account id -> sealed account key.
func (s Space) ACMEAccounts() string { return s.state + "acme:accounts" }

// CA is a string: the cluster CA certificate and its sealed key.
func (s Space) CA() string { return s.state + "ca" }

// JoinToken is a hash: join token id's hash, uses, limits and labels.
func (s Space) JoinToken(id string) string { return s.state + "jointoken:" + id }

// JoinTokens is a set of the join tokens' ids.
func (s Space) JoinTokens() string { return s.state + "jointokens" }

// AgentsRevoked is a hash: node id -> revocation time (unix seconds).
func (s Space) AgentsRevoked() string { return s.state + "agents:revoked" }

// AgentRevocations is a pub/sub channel announcing each revoked node id.
func (s Space) AgentRevocations() string { return s.state + "agents:revocations" }

// AgentsEnrolled is a hash: node id -> JSON labels from its join token.
func (s Space) AgentsEnrolled() string { return s.state + "agents:enrolled" }

// AgentsRedis is a hash: node id -> the sealed password of the agent's Redis ACL user.
func (s Space) AgentsRedis() string { return s.state + "agents:redis" }

// AgentCerts is a hash: node id -> "<notBefore>:<fingerprint>" of its newest certificate.
func (s Space) AgentCerts() string { return s.state + "agents:certs" }

// AgentTakeovers is a pub/sub channel announcing "<node> <session>" for each new stream.
func (s Space) AgentTakeovers() string { return s.state + "agents:takeovers" }

// Tokens is a hash: admin token hash -> token record JSON.
func (s Space) Tokens() string { return s.state + "tokens" }

// TokenNames is a hash: admin token name -> its hash.
func (s Space) TokenNames() string { return s.state + "tokens:names" }

// AgentUser is the name of node's Redis ACL user on the telemetry Redis (not a key), which
// may only XADD the request stream.
func (s Space) AgentUser(node string) string { return s.ns + "-agent-" + node }

// BenchCounter is a string the benchmarks INCR to measure Redis itself (bench/cmd/writes).
func (s Space) BenchCounter(name string) string { return s.state + "bench:" + name }

// Epoch is a string: a random id written once per store history. A store that lost it was
// wiped (a Redis emptied or restarted without persistence); the replica restoring what it
// held writes a new one (controlplane store, durable.go).
func (s Space) Epoch() string { return s.state + "epoch" }

// RestoreMarks is a hash, kept a few seconds after a wipe while replicas put back the state
// they hold: "_from" -> the epoch before the wipe, and each restored key's name -> the mark
// (Redis time, µs) of the copy written.
func (s Space) RestoreMarks() string { return s.state + "restore:marks" }

// RestoreScratch is a string used inside one restore script (merging port bitmaps) and
// deleted before it returns.
func (s Space) RestoreScratch() string { return s.state + "restore:scratch" }

// DurableChanged is a Pub/Sub channel: the names of durable state keys a replica wrote
// (space separated), or "restored <epoch>" after a wipe, so every replica's in-memory copy
// follows.
func (s Space) DurableChanged() string { return s.state + "durable" }
