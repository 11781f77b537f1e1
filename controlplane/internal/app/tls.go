package app

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/pki"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// TLSConfig is the part of Config about transport security and agent identity.
type TLSConfig struct {
	// AdvertiseNames are the DNS names and IP addresses agents and admins reach the control
	// plane by; they go into the server certificate with the listen host.
	AdvertiseNames []string
	// TLSCertFile and TLSKeyFile supply the server certificate instead of one the cluster CA
	// issues. Agents verify it against the cluster CA, so it should be issued by it.
	TLSCertFile, TLSKeyFile string
	// CACertFile and CAKeyFile supply the cluster CA instead of one made on first start.
	CACertFile, CAKeyFile string
	// AgentCertLifetime is how long agents' certificates are valid (default 30 days); agents
	// renew at two thirds of it.
	AgentCertLifetime time.Duration
	// AgentRetention is how long the status of an agent not seen is kept (default 7 days).
	AgentRetention time.Duration
}

// serverCertLifetime is the life of a server certificate the CA issues; it is reissued when
// a third of it is left.
const serverCertLifetime = 90 * 24 * time.Hour

// tlsOn reports whether gRPC is served over TLS with authentication.
func (a *App) tlsOn() bool { return !a.cfg.Dev && !a.cfg.Insecure }

// checkTransport fails fast on a configuration that would expose plaintext gRPC or could
// not keep the CA's key.
func (a *App) checkTransport() error {
	if !a.tlsOn() {
		if !loopback(a.cfg.GRPCAddr) {
			return fmt.Errorf("--grpc-addr %s is not a loopback address: plaintext gRPC (--insecure, --dev) is allowed only on 127.0.0.1 or ::1; "+
				"drop --insecure/--dev to serve TLS (with --secrets-key-file)", a.cfg.GRPCAddr)
		}
		return nil
	}
	if a.cfg.SecretsKeyFile == "" {
		return errors.New("TLS needs --secrets-key-file to seal the cluster CA's key in Redis " +
			"(make one: openssl rand -hex 32 > key && chmod 600 key); or pass --insecure to serve plaintext on a loopback --grpc-addr")
	}
	if (a.cfg.TLSCertFile == "") != (a.cfg.TLSKeyFile == "") || (a.cfg.CACertFile == "") != (a.cfg.CAKeyFile == "") {
		return errors.New("give --tls-cert with --tls-key, and --ca-cert with --ca-key")
	}
	return nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// setupTLS loads or makes the cluster CA and the server certificate, and returns the gRPC
// server options for them (none with TLS off).
func (a *App) setupTLS(ctx context.Context, st *store.Store) ([]grpc.ServerOption, error) {
	if !a.tlsOn() {
		a.log.Warn("INSECURE: gRPC is plaintext and unauthenticated (--insecure or --dev): anyone who can reach " +
			a.cfg.GRPCAddr + " is admin; never expose it")
		return nil, nil
	}
	ca, err := a.loadCA(ctx, st)
	if err != nil {
		return nil, err
	}
	a.ca = ca
	get, err := a.serverCert(ca)
	if err != nil {
		return nil, err
	}
	a.log.Info("TLS on: agents enrol with --ca-pin "+ca.Pin(), "ca_pin", ca.Pin(), "grpc_addr", a.cfg.GRPCAddr)
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: get,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		ClientCAs:      ca.Pool(),
	}
	return []grpc.ServerOption{grpc.Creds(credentials.NewTLS(cfg))}, nil
}

// loadCA returns the CA stored in Redis, storing the supplied or a new one if there is none.
// Replicas starting at once all end with the one CA that won the SET NX.
func (a *App) loadCA(ctx context.Context, st *store.Store) (*pki.CA, error) {
	var certPEM, keyPEM []byte
	if a.cfg.CACertFile != "" {
		var err error
		if certPEM, err = os.ReadFile(a.cfg.CACertFile); err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		if keyPEM, err = os.ReadFile(a.cfg.CAKeyFile); err != nil {
			return nil, fmt.Errorf("--ca-key: %w", err)
		}
		if _, err := pki.Parse(certPEM, keyPEM); err != nil {
			return nil, err
		}
	}
	for range 3 {
		c, k, err := st.LoadCA(ctx)
		if err == nil {
			if certPEM != nil && !bytes.Equal(bytes.TrimSpace(c), bytes.TrimSpace(certPEM)) {
				return nil, errors.New("--ca-cert differs from the cluster CA already stored in Redis; agents enrolled with it would be cut off. " +
					"Drop --ca-cert/--ca-key, or delete the stored CA (key {namespace}:ca) to replace it")
			}
			return pki.Parse(c, k)
		}
		if !errors.Is(err, model.ErrNotFound) {
			return nil, fmt.Errorf("loading the cluster CA: %w", err)
		}
		if certPEM == nil {
			ca, kp, err := pki.New()
			if err != nil {
				return nil, err
			}
			certPEM, keyPEM = ca.PEM(), kp
			defer func() { certPEM = nil }()
		}
		created, err := st.CreateCA(ctx, certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		if created {
			a.log.Info("made the cluster CA and stored it, sealed, in Redis")
			return pki.Parse(certPEM, keyPEM)
		}
	}
	return nil, errors.New("the cluster CA in Redis keeps changing")
}

// serverCert returns the GetCertificate function of the server: the supplied certificate,
// or one the CA issues for the advertised names and the listen host, renewed when a third
// of its life is left.
func (a *App) serverCert(ca *pki.CA) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	if a.cfg.TLSCertFile != "" {
		c, err := tls.LoadX509KeyPair(a.cfg.TLSCertFile, a.cfg.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &c, nil }, nil
	}
	names := append([]string{}, a.cfg.AdvertiseNames...)
	if host, _, err := net.SplitHostPort(a.cfg.GRPCAddr); err == nil {
		if ip := net.ParseIP(host); host != "" && (ip == nil || !ip.IsUnspecified()) {
			names = append(names, host)
		} else {
			names = append(names, "localhost", "127.0.0.1", "::1")
		}
	}
	var mu sync.Mutex
	var cur *tls.Certificate
	get := func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
		mu.Lock()
		defer mu.Unlock()
		if cur == nil || time.Until(cur.Leaf.NotAfter) < serverCertLifetime/3 {
			c, err := ca.IssueServer(names, serverCertLifetime)
			if err != nil {
				return nil, err
			}
			cur = c
		}
		return cur, nil
	}
	_, err := get(nil)
	return get, err
}

// buildEnrollment wires EnrollmentService and the agents' identities (TLS on).
func (a *App) buildEnrollment(st *store.Store, fleet *api.Fleet) {
	enr := &api.Enrollment{}
	fleet.Enrollment = enr
	edgeplanev1.RegisterEnrollmentServiceServer(a.grpc, enr)
	if a.ca == nil {
		return
	}
	fleet.RequireCert = true
	streams := telemetry.StreamNames(a.cfg.StreamNamespace)
	enr.Enroller = &pki.Enroller{Store: st, CA: a.ca, Lifetime: a.cfg.AgentCertLifetime,
		RequestStream: streams.Requests, Logger: a.log.With("component", "pki")}
}

// agentSettings returns node's own telemetry settings: the agents' Redis URL with node's
// credentials (nil if it has none).
func (a *App) agentSettings(st *store.Store) func(ctx context.Context, node string) *edgeplanev1.AgentSettings {
	base := a.cfg.AgentRedisURL
	if base == "" {
		base = a.cfg.RedisURL
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil
	}
	u.RawQuery, u.Fragment = "", ""
	stream := telemetry.StreamNames(a.cfg.StreamNamespace).Requests
	return func(ctx context.Context, node string) *edgeplanev1.AgentSettings {
		pw, err := st.AgentRedisPassword(ctx, node)
		if err != nil || pw == "" {
			return nil
		}
		c := *u
		c.User = url.UserPassword(st.AgentRedisUser(node), pw)
		return &edgeplanev1.AgentSettings{Telemetry: &edgeplanev1.TelemetrySettings{
			RedisUrl: c.String(), RequestStream: stream, MaxLen: 100000}}
	}
}

// watchRevocations ends the sessions of agents revoked on any replica until ctx ends.
func (a *App) watchRevocations(ctx context.Context, st *store.Store) error {
	if a.ca == nil {
		return nil
	}
	for ctx.Err() == nil {
		_ = st.WatchRevocations(ctx, a.tail, a.fanout.Revoke)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// renewAgent signs a renewal for an agent authenticated as node (fanout.Config.Renew).
func (a *App) renewAgent(csrPEM []byte, node string) ([]byte, []byte, error) {
	if a.ca == nil {
		return nil, nil, errors.New("TLS is off")
	}
	e := &pki.Enroller{CA: a.ca, Lifetime: a.cfg.AgentCertLifetime}
	cert, err := e.Renew(csrPEM, node)
	return cert, a.ca.PEM(), err
}

// serveCA answers GET /ca.pem with the cluster CA certificate (public: what grpcurl -cacert
// and admin clients trust); 404 with TLS off.
func (a *App) serveCA(w http.ResponseWriter, _ *http.Request) {
	if a.ca == nil {
		http.Error(w, "no cluster CA: gRPC is plaintext (--insecure or --dev)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Edgeplane-CA-Pin", a.ca.Pin())
	_, _ = w.Write(a.ca.PEM())
}
