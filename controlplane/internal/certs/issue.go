package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/acme"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// issued is a certificate the CA issued.
type issued struct {
	cert *edgeplanev1.TlsCertificate
	leaf *x509.Certificate
}

// issue runs one ACME order for meta's domains: HTTP-01 challenges are committed to the
// config (every agent answers them), the CA is asked to validate once the connected agents
// serve them, and the challenges are removed afterwards, whatever happened.
func (m *Manager) issue(ctx context.Context, meta *edgeplanev1.Certificate) (*issued, error) {
	dir := meta.GetAcmeDirectory()
	if dir == "" {
		dir = m.cfg.Directory
	}
	if dir == "" {
		return nil, errors.New("no ACME directory: start the control plane with --acme-directory")
	}
	c, err := m.client(ctx, dir)
	if err != nil {
		return nil, err
	}
	order, err := c.AuthorizeOrder(ctx, acme.DomainIDs(meta.GetDomains()...))
	if err != nil {
		return nil, fmt.Errorf("creating the order: %w", err)
	}
	var tokens []string
	defer func() { m.removeChallenges(context.WithoutCancel(ctx), tokens) }()
	pending, rev, err := m.publishChallenges(ctx, c, order, &tokens)
	if err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		if err := m.waitAgents(ctx, rev); err != nil {
			return nil, err
		}
		if err := validate(ctx, c, pending); err != nil {
			return nil, err
		}
	}
	ready, err := c.WaitOrder(ctx, order.URI)
	if err != nil {
		return nil, fmt.Errorf("waiting for the order: %w", err)
	}
	ready.URI = order.URI // a GET of the order carries no Location
	return finalize(ctx, c, ready, meta)
}

type challenge struct {
	authz *acme.Authorization
	chal  *acme.Challenge
}

// publishChallenges commits the key authorization of every authorization's HTTP-01
// challenge that is not yet valid; it returns them and the revision of the last commit.
func (m *Manager) publishChallenges(ctx context.Context, c *acmeClient, order *acme.Order, tokens *[]string) ([]challenge, int64, error) {
	var out []challenge
	var rev int64
	for _, u := range order.AuthzURLs {
		z, err := c.GetAuthorization(ctx, u)
		if err != nil {
			return nil, 0, fmt.Errorf("reading authorization: %w", err)
		}
		if z.Status == acme.StatusValid {
			continue
		}
		var chal *acme.Challenge
		for _, ch := range z.Challenges {
			if ch.Type == "http-01" {
				chal = ch
			}
		}
		if chal == nil {
			return nil, 0, fmt.Errorf("the CA offers no http-01 challenge for %q", z.Identifier.Value)
		}
		ka, err := c.HTTP01ChallengeResponse(chal.Token)
		if err != nil {
			return nil, 0, err
		}
		payload, err := m.cfg.Store.Encode(store.KindChallenge, &edgeplanev1.AcmeChallenge{Token: chal.Token, KeyAuthorization: ka})
		if err != nil {
			return nil, 0, err
		}
		*tokens = append(*tokens, chal.Token)
		if rev, err = m.cfg.Store.Commit(ctx, store.Op{Kind: store.KindChallenge, Name: chal.Token, Payload: payload,
			Fresh: m.cfg.State.Fresh()}); err != nil {
			return nil, 0, fmt.Errorf("publishing the challenge for %q: %w", z.Identifier.Value, err)
		}
		out = append(out, challenge{authz: z, chal: chal})
	}
	return out, rev, nil
}

// waitAgents waits until the connected agents serve revision rev. With no agent connected,
// or none serving it in time, the CA could not validate: that is an error.
func (m *Manager) waitAgents(ctx context.Context, rev int64) error {
	if m.cfg.Fleet == nil {
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, m.cfg.ChallengeWait)
	defer cancel()
	p, err := m.cfg.Fleet.Wait(wctx, rev)
	switch {
	case err != nil:
		return fmt.Errorf("waiting for agents to serve the challenges: %w", err)
	case p.GetAcked() == 0 && len(p.GetPending()) == 0 && len(p.GetRejected()) == 0:
		return errors.New("no agent is connected to answer the HTTP-01 challenges")
	case p.GetAcked() == 0:
		return fmt.Errorf("no agent served the HTTP-01 challenges within %s (pending %v, rejected %d)",
			m.cfg.ChallengeWait, p.GetPending(), len(p.GetRejected()))
	case len(p.GetPending()) > 0 || len(p.GetRejected()) > 0:
		m.log.WarnContext(ctx, "asking the CA to validate before every agent serves the challenges",
			"revision", rev, "acked", p.GetAcked(), "pending", p.GetPending(), "rejected", len(p.GetRejected()))
	}
	return nil
}

// validate asks the CA to validate every challenge and waits for the results.
func validate(ctx context.Context, c *acmeClient, pending []challenge) error {
	for _, p := range pending {
		if _, err := c.Accept(ctx, p.chal); err != nil {
			return fmt.Errorf("accepting the challenge for %q: %w", p.authz.Identifier.Value, err)
		}
	}
	var errs []string
	for _, p := range pending {
		if _, err := c.WaitAuthorization(ctx, p.authz.URI); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}

// finalize sends a CSR for a fresh P-256 key and downloads the chain.
func finalize(ctx context.Context, c *acmeClient, order *acme.Order, meta *edgeplanev1.Certificate) (*issued, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: meta.GetDomains()[0]}, DNSNames: meta.GetDomains()}, key)
	if err != nil {
		return nil, err
	}
	der, err := finalizeOrder(ctx, c, order, csr)
	if err != nil {
		return nil, fmt.Errorf("finalizing the order: %w", err)
	}
	leaf, err := x509.ParseCertificate(der[0])
	if err != nil {
		return nil, fmt.Errorf("the CA's certificate does not parse: %w", err)
	}
	var chain []byte
	for _, d := range der {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	return &issued{leaf: leaf, cert: &edgeplanev1.TlsCertificate{Name: meta.GetName(), Domains: meta.GetDomains(),
		CertificatePem: chain, PrivateKeyPem: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})}}, nil
}

// finalizeOrder sends the CSR and returns the chain. CAs that answer finalize with an order
// still "processing" and no Location header (Pebble) make x/crypto/acme wait on an empty
// URL; the order's own URL is then followed instead.
func finalizeOrder(ctx context.Context, c *acmeClient, order *acme.Order, csr []byte) ([][]byte, error) {
	der, _, err := c.CreateOrderCert(ctx, order.FinalizeURL, csr, true)
	if err == nil {
		return der, nil
	}
	o, werr := c.WaitOrder(ctx, order.URI)
	if werr != nil || o.Status != acme.StatusValid || o.CertURL == "" {
		return nil, err
	}
	return c.FetchCert(ctx, o.CertURL, true)
}

// removeChallenges deletes challenges from the config; agents stop answering them.
func (m *Manager) removeChallenges(ctx context.Context, tokens []string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for _, t := range tokens {
		_, err := m.cfg.Store.Commit(ctx, store.Op{Kind: store.KindChallenge, Name: t, Delete: true, Pre: store.MustExist})
		if err != nil && !isNotFound(err) {
			m.log.WarnContext(ctx, "removing an ACME challenge failed", "token", t, "err", err)
		}
	}
}

// newToken returns a random lock token.
func newToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
