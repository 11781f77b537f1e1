package app

import (
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc"

	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// AuthConfig configures who may call the API.
type AuthConfig struct {
	// DockerCreateRole is the minimum role of DockerService/CreateService: "admin" (default)
	// or "operator".
	DockerCreateRole string
	// MaxStreamsPerPrincipal caps each caller's concurrent TailEvents and StreamServiceLogs
	// streams. Default 8.
	MaxStreamsPerPrincipal int
	// TokenCacheTTL is how long a token lookup is remembered: a token deleted on another
	// replica keeps working at most this long. Default 5s.
	TokenCacheTTL time.Duration
}

// authEnforced: callers must authenticate whenever gRPC is TLS, i.e. unless it is plaintext
// on loopback (--dev or --insecure; setupTLS warns about that at start).
func (a *App) authEnforced() bool { return a.tlsOn() }

// openAuth checks the access policy. (TailEvents reads on a pool of its own, a.tel.events.)
func (a *App) openAuth() error {
	var err error
	if a.policy, err = auth.NewPolicy(auth.PolicyConfig{DockerCreateRole: auth.Role(a.cfg.Auth.DockerCreateRole)}); err != nil {
		return fmt.Errorf("--docker-create-role: %w", err)
	}
	if len(a.cfg.DockerPolicy.AllowedImages) == 0 && !a.cfg.Dev {
		a.log.Warn("Docker services may run any image: set --docker-allowed-images to the registries and repositories you trust")
	}
	return nil
}

// guardOptions returns the interceptors that authenticate, authorize, cap and audit calls.
func (a *App) guardOptions(st *store.Store) []grpc.ServerOption {
	a.authn = auth.NewAuthenticator(auth.Config{Enforce: a.authEnforced(), Tokens: st, CacheTTL: a.cfg.Auth.TokenCacheTTL})
	g := &api.Guard{Auth: a.authn, Policy: a.policy, Streams: auth.NewStreamLimiter(a.cfg.Auth.MaxStreamsPerPrincipal),
		Audit: a.events.For("api").Emit, Registerer: a.prom}
	return g.ServerOptions()
}

// registerTokens registers TokenService.
func (a *App) registerTokens(st *store.Store) {
	edgeplanev1.RegisterTokenServiceServer(a.grpc, &api.Tokens{Admin: &auth.TokenAdmin{Store: st, Auth: a.authn}})
}

// OpenTokenAdmin manages the tokens in the Redis at redisURL under namespace (default
// "edgeplane"), for `edgeplane-control token`. Call close when done.
func OpenTokenAdmin(redisURL, namespace string) (admin *auth.TokenAdmin, close func() error, err error) {
	if redisURL == "" {
		return nil, nil, errors.New("no state store: set --redis-url (or EDGEPLANE_REDIS_URL)")
	}
	rdb, err := newRedis(redisURL, 2)
	if err != nil {
		return nil, nil, err
	}
	st := store.New(store.Config{Client: rdb, Namespace: namespace})
	return &auth.TokenAdmin{Store: st}, rdb.Close, nil
}

// OpenStore opens the store in the Redis at redisURL under namespace without a secrets key
// (sealed values stay sealed), for `edgeplane-control backup` and `restore`. Call close
// when done.
func OpenStore(redisURL, namespace string) (st *store.Store, close func() error, err error) {
	if redisURL == "" {
		return nil, nil, errors.New("no state store: set --redis-url (or EDGEPLANE_REDIS_URL)")
	}
	rdb, err := newRedis(redisURL, 2)
	if err != nil {
		return nil, nil, err
	}
	return store.New(store.Config{Client: rdb, Namespace: namespace}), rdb.Close, nil
}
