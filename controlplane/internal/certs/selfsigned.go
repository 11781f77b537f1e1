// Package certs keeps the TLS certificates agents serve. It makes the self-signed
// certificates of TLS_MODE_SELF_SIGNED routes (before the route is committed, so a
// certificate reaches agents no later than the route that needs it) and removes them when no
// route needs them any more.
package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// SelfSignedPrefix starts the names of the certificates made for TLS_MODE_SELF_SIGNED routes:
// "self-signed-<route>".
const SelfSignedPrefix = "self-signed-"

// selfSignedLifetime is how long a self-signed certificate is valid.
const selfSignedLifetime = 365 * 24 * time.Hour

// SelfSigned makes and removes the self-signed certificates of routes. Safe for concurrent use.
type SelfSigned struct {
	Store *store.Store
	State *state.State
	// Grace is how long a certificate stays unused before it is removed, so one made for a
	// route about to be committed survives. Default 10s.
	Grace time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger

	unusedSince map[string]time.Time // owned by Run
}

// Ensure makes sure the certificate of a TLS_MODE_SELF_SIGNED route exists and covers its
// hosts; for other routes it does nothing. Call it before committing the route.
func (s *SelfSigned) Ensure(ctx context.Context, r *edgeplanev1.Route) error {
	if r.GetTls().GetMode() != edgeplanev1.TlsMode_TLS_MODE_SELF_SIGNED {
		return nil
	}
	name := SelfSignedPrefix + r.GetName()
	cur, err := s.Store.Get(ctx, store.KindCertificate, name)
	switch {
	case errors.Is(err, model.ErrNotFound):
	case err != nil:
		return err
	case covers(cur.Value.(*edgeplanev1.TlsCertificate).GetDomains(), r.GetHosts()):
		return nil
	}
	cert, err := MakeSelfSigned(name, r.GetHosts(), clock.Now())
	if err != nil {
		return err
	}
	payload, err := s.Store.Encode(store.KindCertificate, cert)
	if errors.Is(err, store.ErrNoSecretsKey) {
		return fmt.Errorf("route %q needs a self-signed certificate: %w: %w", r.GetName(), model.ErrFailedPrecondition, err)
	}
	if err != nil {
		return fmt.Errorf("storing certificate %q: %w", name, err)
	}
	_, err = s.Store.Commit(ctx, store.Op{Kind: store.KindCertificate, Name: name, Payload: payload,
		IfRevision: cur.Revision, Pre: pre(cur.Revision), Fresh: s.State.Fresh()})
	if errors.Is(err, model.ErrConflict) || errors.Is(err, model.ErrAlreadyExists) {
		return nil // another replica made it at the same moment
	}
	return err
}

func pre(rev int64) store.Precondition {
	if rev == 0 {
		return store.MustCreate
	}
	return store.Any
}

func covers(domains, hosts []string) bool {
	for _, h := range hosts {
		if !slices.Contains(domains, h) {
			return false
		}
	}
	return true
}

// Run removes self-signed certificates whose route is gone or no longer self-signed, each
// time the config changes, until ctx ends.
func (s *SelfSigned) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-s.State.Ready():
	}
	if s.Grace <= 0 {
		s.Grace = 10 * time.Second
	}
	s.unusedSince = map[string]time.Time{}
	tick := time.NewTicker(s.Grace / 2)
	defer tick.Stop()
	for {
		changed, _, _ := s.State.Watch()
		if err := s.prune(ctx, clock.Now()); err != nil && ctx.Err() == nil && s.Logger != nil {
			s.Logger.WarnContext(ctx, "removing unused self-signed certificates failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-tick.C:
		}
	}
}

func (s *SelfSigned) prune(ctx context.Context, now time.Time) error {
	seen := map[string]bool{}
	for _, it := range s.State.Items(store.KindCertificate) {
		route, ok := strings.CutPrefix(it.Name, SelfSignedPrefix)
		if !ok {
			continue
		}
		if r, ok := s.State.Item(store.KindRoute, route); ok &&
			r.Value.(*edgeplanev1.Route).GetTls().GetMode() == edgeplanev1.TlsMode_TLS_MODE_SELF_SIGNED {
			continue
		}
		seen[it.Name] = true
		since, ok := s.unusedSince[it.Name]
		if !ok {
			s.unusedSince[it.Name] = now
		}
		if !ok || now.Sub(since) < s.Grace {
			continue
		}
		_, err := s.Store.Commit(ctx, store.Op{Kind: store.KindCertificate, Name: it.Name, Delete: true, IfRevision: it.Revision})
		if err != nil && !errors.Is(err, model.ErrConflict) && !errors.Is(err, model.ErrNotFound) {
			return err
		}
	}
	for name := range s.unusedSince {
		if !seen[name] {
			delete(s.unusedSince, name)
		}
	}
	return nil
}

// MakeSelfSigned returns a self-signed ECDSA P-256 certificate for hosts, valid for a year
// from now.
func MakeSelfSigned(name string, hosts []string, now time.Time) (*edgeplanev1.TlsCertificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"edgeplane self-signed"}},
		DNSNames:     hosts,
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(selfSignedLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("making a self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &edgeplanev1.TlsCertificate{
		Name:           name,
		Domains:        slices.Clone(hosts),
		CertificatePem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKeyPem:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}, nil
}
