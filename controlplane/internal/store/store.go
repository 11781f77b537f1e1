// Package store persists the control plane's state in Redis. It is the only package that
// reads and writes the state keys (internal/keyspace declares them). Every config write bumps one global revision and appends an entry to the
// changelog stream in the same Lua script, so the revision, the resource and the changelog
// can never disagree. All keys share one hash tag, which keeps the scripts atomic on Redis
// Cluster.
//
// Errors: redis.Nil becomes model.ErrNotFound; a Redis that cannot be reached becomes
// model.ErrUnavailable (wrapped with detail); the scripts' own failures become
// model.ErrAlreadyExists, model.ErrNotFound and model.ErrConflict.
package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/internal/keyspace"
)

// Config configures a Store.
type Config struct {
	// Client is the state client. Required.
	Client redis.UniversalClient
	// Namespace names the keys (internal/keyspace): "{edgeplane}:routes". Default
	// keyspace.DefaultNamespace.
	Namespace string
	// ChangelogLen is the approximate number of changelog entries kept (MAXLEN ~). It bounds how
	// far behind an agent may fall and still catch up by delta. Default 10000.
	ChangelogLen int64
	// Secrets seals private keys at rest. Nil: storing a private key fails with
	// ErrNoSecretsKey.
	Secrets *secrets.Box
	// ACLClient is the Redis agents publish their request records to, where their ACL users
	// are made (agentacl.go). Default: Client.
	ACLClient redis.UniversalClient
	// MinReplicas, when positive, makes every config write (Commit) wait until that many
	// replicas confirm it (WAIT), failing with model.ErrUnavailable and ErrNotReplicated
	// otherwise. Default 0: acknowledged once the primary has it.
	MinReplicas int
	// MinReplicasTimeout bounds that wait. Default DefaultMinReplicasTimeout.
	MinReplicasTimeout time.Duration
}

// Store reads and writes the control plane's state. It is safe for concurrent use.
type Store struct {
	secrets      *secrets.Box
	rdb          redis.UniversalClient
	acl          redis.UniversalClient // agents' ACL users live here
	keys         keys
	changelogLen int64

	minReplicas        int
	minReplicasTimeout time.Duration

	mirror *mirror // the durable state as this replica last read it (durable.go)
}

// keys caches the store's fixed key names (internal/keyspace declares them all); keys named
// by a value come from the embedded Space's constructors (s.keys.PortsUsed(host), ...).
type keys struct {
	keyspace.Space
	revision, changelog, agents, agentOwners   string
	routes, certificates, challenges, services string
	// Port leases and Docker service definitions (ports.go, services.go).
	ports, portOwners, dockerServices string
	// Certificate metadata and ACME accounts (certificates.go).
	certMeta, acmeAccounts string
	// The cluster CA, join tokens, revocations and agents' Redis users (identity.go).
	identity identityKeys
	// Admin tokens by hash, and the hash of each token name (tokens.go).
	tokens, tokenNames string
}

func newKeys(ks keyspace.Space) keys {
	return keys{
		Space:        ks,
		revision:     ks.Revision(),
		routes:       ks.Routes(),
		certificates: ks.Certificates(),
		challenges:   ks.Challenges(),
		services:     ks.Services(),
		changelog:    ks.Changelog(),
		agents:       ks.Agents(),
		agentOwners:  ks.AgentOwners(),

		ports:          ks.Ports(),
		portOwners:     ks.PortOwners(),
		dockerServices: ks.DockerServices(),

		certMeta:     ks.CertificateMeta(),
		acmeAccounts: ks.ACMEAccounts(),

		identity: newIdentityKeys(ks),

		tokens:     ks.Tokens(),
		tokenNames: ks.TokenNames(),
	}
}

// New returns a Store on cfg.Client.
func New(cfg Config) *Store {
	n := cfg.ChangelogLen
	if n <= 0 {
		n = 10000
	}
	if cfg.ACLClient == nil {
		cfg.ACLClient = cfg.Client
	}
	if cfg.MinReplicasTimeout <= 0 {
		cfg.MinReplicasTimeout = DefaultMinReplicasTimeout
	}
	s := &Store{
		mirror:             newMirror(),
		minReplicas:        cfg.MinReplicas,
		minReplicasTimeout: cfg.MinReplicasTimeout,
		rdb:                cfg.Client,
		acl:                cfg.ACLClient,
		secrets:            cfg.Secrets,
		changelogLen:       n,
		keys:               newKeys(keyspace.New(cfg.Namespace)),
	}
	cfg.Client.AddHook(hook{s})
	return s
}

// ChangelogKey is the changelog stream's key, for operators' XINFO/XRANGE.
func (s *Store) ChangelogKey() string { return s.keys.changelog }

// Script error replies, matched by prefix.
const (
	errReplyExists   = "EDGEPLANE_EXISTS"
	errReplyNotFound = "EDGEPLANE_NOTFOUND"
	errReplyConflict = "EDGEPLANE_CONFLICT"
	errReplyWiped    = "EDGEPLANE_WIPED"
)

// mapErr turns a go-redis error into the model's vocabulary. what says what was being done.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: %w", what, model.ErrNotFound)
	}
	if errors.Is(err, model.ErrUnavailable) {
		return fmt.Errorf("%s: %w", what, err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, errReplyExists):
		return fmt.Errorf("%s: %w", what, model.ErrAlreadyExists)
	case strings.Contains(msg, errReplyNotFound):
		return fmt.Errorf("%s: %w", what, model.ErrNotFound)
	case strings.Contains(msg, errReplyConflict):
		return fmt.Errorf("%s: %w", what, model.ErrConflict)
	case strings.Contains(msg, errReplyWiped):
		return fmt.Errorf("%s: %w: the store lost its data; a replica is restoring it", what, model.ErrUnavailable)
	}
	var rerr redis.Error
	if errors.As(err, &rerr) && !transient(msg) {
		return fmt.Errorf("%s: redis: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %v", what, model.ErrUnavailable, err)
}

// transientReplies are the replies of a Redis that is loading, failing over or between
// primaries: the command may work again in a moment. READONLY is a demoted primary (a
// Sentinel or Cluster failover the client has not followed yet), also inside a script's
// error.
var transientReplies = []string{"LOADING", "CLUSTERDOWN", "MASTERDOWN", "TRYAGAIN", "READONLY", "NOREPLICAS", "UNBLOCKED", "MOVED", "ASK"}

func transient(msg string) bool {
	for _, p := range transientReplies {
		if strings.HasPrefix(msg, p) || strings.Contains(msg, "-"+p) || strings.Contains(msg, ": "+p) {
			return true
		}
	}
	return false
}

// splitValue splits a stored "revision:payload" value.
func splitValue(v string) (int64, []byte, error) {
	head, payload, ok := strings.Cut(v, ":")
	if !ok {
		return 0, nil, errors.New("stored value has no revision prefix")
	}
	rev, err := strconv.ParseInt(head, 10, 64)
	if err != nil {
		return 0, nil, fmt.Errorf("stored value has a bad revision prefix: %w", err)
	}
	return rev, []byte(payload), nil
}
