package pki

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Store is what enrollment keeps in Redis (implemented by *store.Store).
type Store interface {
	CreateJoinToken(ctx context.Context, t store.JoinToken) error
	UseJoinToken(ctx context.Context, id, secretHash, nodeID string, now time.Time) (string, map[string]string, error)
	ListJoinTokens(ctx context.Context) ([]store.JoinToken, error)
	DeleteJoinToken(ctx context.Context, id string) error
	PutEnrollment(ctx context.Context, node string, e store.AgentEnrollment) error
	Enrollment(ctx context.Context, node string) (store.AgentEnrollment, error)
	RevokeAgent(ctx context.Context, node string, at time.Time) error
	RevokedAt(ctx context.Context, node string) (time.Time, error)
	CreateAgentRedisUser(ctx context.Context, node, stream string) (string, string, error)
	DeleteAgentRedisUser(ctx context.Context, node string) error
}

var _ Store = (*store.Store)(nil)

// Enroller turns join tokens into agent certificates, renews and revokes them.
type Enroller struct {
	// Store keeps tokens, enrollments and revocations. Required.
	Store Store
	// CA signs agents' certificates. Required.
	CA *CA
	// Lifetime of agent certificates. Default DefaultAgentLifetime.
	Lifetime time.Duration
	// RequestStream, when set, gives each enrolled agent a Redis user allowed only XADD on
	// it; empty: no per-agent Redis users.
	RequestStream string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// CreateToken makes a join token and returns it whole ("id.secret"), once.
func (e *Enroller) CreateToken(ctx context.Context, ttl time.Duration, maxUses int, node string, labels map[string]string) (string, store.JoinToken, error) {
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if maxUses == 0 {
		maxUses = 1
	}
	if err := checkToken(ttl, maxUses, node, labels); err != nil {
		return "", store.JoinToken{}, err
	}
	id, secret := randomString(6), randomString(24)
	now := clock.Now()
	t := store.JoinToken{ID: id, SecretHash: auth.HashSecret(secret), NodeID: node, Labels: labels, MaxUses: maxUses,
		Created: now, Expires: now.Add(ttl)}
	if err := e.Store.CreateJoinToken(ctx, t); err != nil {
		return "", store.JoinToken{}, err
	}
	return id + "." + secret, t, nil
}

// Enroll spends a use of token and signs csr for the node. node may be empty when the token
// fixes one. Errors wrap model.ErrDenied for a refused token, model.ValidationError for a
// bad node id or CSR.
func (e *Enroller) Enroll(ctx context.Context, token, node string, csrPEM []byte) (certPEM []byte, nodeID string, err error) {
	id, secret, ok := strings.Cut(token, ".")
	if !ok || !tokenPart.MatchString(id) || !tokenPart.MatchString(secret) {
		return nil, "", fmt.Errorf("%w: malformed join token (want id.secret)", model.ErrDenied)
	}
	if node != "" && !ValidNodeID(node) {
		return nil, "", invalid("node_id", nodeIDRule)
	}
	if _, err := parseCSR(csrPEM); err != nil {
		return nil, "", invalid("csr_pem", err.Error())
	}
	fixed, labels, err := e.Store.UseJoinToken(ctx, id, auth.HashSecret(secret), node, clock.Now())
	if err != nil {
		return nil, "", err
	}
	if node == "" {
		node = fixed
	}
	if node == "" {
		return nil, "", invalid("node_id", "is required: the join token names no node id")
	}
	if err := e.Store.PutEnrollment(ctx, node, store.AgentEnrollment{Labels: labels}); err != nil {
		return nil, "", err
	}
	if e.RequestStream != "" {
		// Without its Redis user the agent still serves; it just publishes no request records.
		if _, _, err := e.Store.CreateAgentRedisUser(ctx, node, e.RequestStream); err != nil {
			e.log().WarnContext(ctx, "agent enrolled without a Redis user: it will publish no request records "+
				"(the control plane's Redis user needs +acl)", "node_id", node, "err", err)
		}
	}
	certPEM, err = e.sign(csrPEM, node)
	return certPEM, node, err
}

func (e *Enroller) log() *slog.Logger {
	if e.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return e.Logger
}

// Renew signs a new certificate for an agent already authenticated as node.
func (e *Enroller) Renew(csrPEM []byte, node string) ([]byte, error) {
	return e.sign(csrPEM, node)
}

func (e *Enroller) sign(csrPEM []byte, node string) ([]byte, error) {
	lifetime := e.Lifetime
	if lifetime <= 0 {
		lifetime = DefaultAgentLifetime
	}
	certPEM, _, err := e.CA.SignCSR(csrPEM, node, RoleAgent, lifetime)
	if err != nil {
		return nil, invalid("csr_pem", err.Error())
	}
	return certPEM, nil
}

// Revoke refuses every certificate of node issued until now and deletes its Redis user.
func (e *Enroller) Revoke(ctx context.Context, node string) (time.Time, error) {
	if !ValidNodeID(node) {
		return time.Time{}, invalid("node_id", nodeIDRule)
	}
	now := clock.Now().Truncate(time.Second)
	if err := e.Store.RevokeAgent(ctx, node, now); err != nil {
		return time.Time{}, err
	}
	if e.RequestStream != "" {
		if err := e.Store.DeleteAgentRedisUser(ctx, node); err != nil {
			return now, err
		}
	}
	return now, nil
}

// CheckRevoked returns an error wrapping model.ErrDenied if id's certificate was revoked.
func (e *Enroller) CheckRevoked(ctx context.Context, id Identity) error {
	at, err := e.Store.RevokedAt(ctx, id.Name)
	if err != nil {
		return err
	}
	if Revoked(id, at) {
		return fmt.Errorf("%w: the certificate of %q is revoked", model.ErrDenied, id.Name)
	}
	return nil
}

// Revoked reports whether id's certificate was issued at or before a revocation at revokedAt.
func Revoked(id Identity, revokedAt time.Time) bool {
	return !revokedAt.IsZero() && !id.Cert.NotBefore.After(revokedAt)
}
