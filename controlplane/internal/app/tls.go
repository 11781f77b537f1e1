package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/edgeplane/edgeplane/controlplane/internal/pki"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/clock"
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
		if cur == nil || clock.Until(cur.Leaf.NotAfter) < serverCertLifetime/3 {
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
