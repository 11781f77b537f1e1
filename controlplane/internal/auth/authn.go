package auth

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// TokenStore looks admin tokens up by hash (store.Store). It returns model.ErrNotFound for an
// unknown hash.
type TokenStore interface {
	TokenByHash(ctx context.Context, hash string) (*store.Token, error)
}

// Config configures an Authenticator.
type Config struct {
	// Enforce turns authentication on. Off (plaintext on loopback), every caller is Insecure.
	Enforce bool
	// Tokens looks bearer tokens up. Required when Enforce.
	Tokens TokenStore
	// CacheTTL is how long a lookup is remembered, and so how long a token deleted on another
	// replica keeps working. Default 5s.
	CacheTTL time.Duration
	// CacheSize bounds the remembered lookups. Default 4096.
	CacheSize int
	// Now defaults to time.Now.
	Now func() time.Time
}

// DefaultCacheTTL is the default Config.CacheTTL.
const DefaultCacheTTL = 5 * time.Second

// Authenticator says who is calling. It is safe for concurrent use.
type Authenticator struct {
	cfg   Config
	cache *tokenCache
}

// NewAuthenticator returns an Authenticator.
func NewAuthenticator(cfg Config) *Authenticator {
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.CacheSize <= 0 {
		cfg.CacheSize = 4096
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{cfg: cfg, cache: newTokenCache(cfg.CacheTTL, cfg.CacheSize)}
}

// Enforced reports whether callers must authenticate.
func (a *Authenticator) Enforced() bool { return a.cfg.Enforce }

// Authenticate returns the caller of the gRPC call in ctx: from its bearer token if it sent
// one, else from its verified client certificate. Errors wrap ErrUnauthenticated, or
// model.ErrUnavailable when the token store cannot be reached.
func (a *Authenticator) Authenticate(ctx context.Context) (Principal, error) {
	if !a.cfg.Enforce {
		return Insecure, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	if values := md.Get("authorization"); len(values) > 0 {
		return a.bearer(ctx, values)
	}
	if cert := VerifiedCert(ctx); cert != nil {
		return a.certificate(cert)
	}
	return Principal{}, fmt.Errorf("no credential: send \"authorization: Bearer <token>\" or a client certificate: %w", ErrUnauthenticated)
}

func (a *Authenticator) bearer(ctx context.Context, values []string) (Principal, error) {
	scheme, secret, ok := strings.Cut(values[0], " ")
	if len(values) != 1 || !ok || !strings.EqualFold(scheme, "bearer") || secret == "" || len(secret) > maxSecretLen {
		return Principal{}, fmt.Errorf("malformed authorization header: want one \"Bearer <token>\": %w", ErrUnauthenticated)
	}
	tok, err := a.lookup(ctx, HashSecret(secret))
	if err != nil {
		return Principal{}, err
	}
	role, ok := ParseRole(tok.Role)
	if !ok || role == RoleAgent {
		return Principal{}, fmt.Errorf("token %q has no usable role: %w", tok.Name, ErrUnauthenticated)
	}
	if tok.Expired(a.cfg.Now()) {
		return Principal{}, fmt.Errorf("token %q expired at %s: %w", tok.Name, tok.ExpireTime.Format(time.RFC3339), ErrUnauthenticated)
	}
	return Principal{Name: tok.Name, Role: role, Via: "token"}, nil
}

// lookup finds a token by hash, through the cache.
func (a *Authenticator) lookup(ctx context.Context, hash string) (*store.Token, error) {
	now := a.cfg.Now()
	tok, hit := a.cache.get(hash, now)
	if !hit {
		var err error
		tok, err = a.cfg.Tokens.TokenByHash(ctx, hash)
		switch {
		case errors.Is(err, model.ErrNotFound):
			tok = nil
		case err != nil:
			return nil, fmt.Errorf("checking a token: %w", err)
		}
		a.cache.put(hash, tok, now)
	}
	if tok == nil {
		return nil, fmt.Errorf("unknown token: %w", ErrUnauthenticated)
	}
	return tok, nil
}

// Forget drops a token's cached lookup (after deleting it through this replica).
func (a *Authenticator) Forget(hash string) { a.cache.forget(hash) }

func (a *Authenticator) certificate(cert *x509.Certificate) (Principal, error) {
	who := Principal{Name: cert.Subject.CommonName, Via: "certificate"}
	if len(cert.Subject.OrganizationalUnit) > 0 {
		who.Role, _ = ParseRole(cert.Subject.OrganizationalUnit[0])
	}
	if who.Name == "" || who.Role == "" {
		return Principal{}, fmt.Errorf("client certificate %q names no identity and role (CN, OU): %w", cert.Subject, ErrUnauthenticated)
	}
	return who, nil
}

// VerifiedCert returns the caller's client certificate if TLS verified it against the
// server's client CAs; nil otherwise.
func VerifiedCert(ctx context.Context) *x509.Certificate {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return nil
	}
	return info.State.VerifiedChains[0][0]
}
