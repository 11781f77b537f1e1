package certs

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"golang.org/x/crypto/acme"
)

// HTTPClient returns the client used to talk to ACME CAs: the system's roots plus, when
// caFile is set, the PEM certificates in it (for a private CA or a test CA such as Pebble).
func HTTPClient(caFile string) (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		data, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("reading the ACME CA file: %w", err)
		}
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("ACME CA file %s holds no PEM certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}

// acmeClient is a registered account at one directory.
type acmeClient struct {
	*acme.Client
	renewalInfo string // the directory's ARI endpoint, "" if it has none
}

// client returns the account at directory, registering it the first time. The account key
// is shared by every replica through the store, sealed.
func (m *Manager) client(ctx context.Context, directory string) (*acmeClient, error) {
	m.mu.Lock()
	c := m.clients[directory]
	m.mu.Unlock()
	if c != nil {
		return c, nil
	}
	key, err := m.accountKey(ctx, directory)
	if err != nil {
		return nil, err
	}
	c = &acmeClient{Client: &acme.Client{Key: key, DirectoryURL: directory, HTTPClient: m.cfg.HTTPClient, UserAgent: "edgeplane"}}
	acct := &acme.Account{}
	if m.cfg.Email != "" {
		acct.Contact = []string{"mailto:" + m.cfg.Email}
	}
	if _, err := c.Register(ctx, acct, acme.AcceptTOS); err != nil && !errors.Is(err, acme.ErrAccountAlreadyExists) {
		return nil, fmt.Errorf("registering the ACME account at %s: %w", directory, err)
	}
	c.renewalInfo = m.renewalInfoURL(ctx, directory)
	m.mu.Lock()
	m.clients[directory] = c
	m.mu.Unlock()
	return c, nil
}

// accountKey returns the account key for directory and the configured e-mail.
func (m *Manager) accountKey(ctx context.Context, directory string) (crypto.Signer, error) {
	fresh, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalECPrivateKey(fresh)
	if err != nil {
		return nil, err
	}
	stored, err := m.cfg.Store.ACMEAccountKey(ctx, directory+" "+m.cfg.Email, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(stored)
	if b == nil {
		return nil, errors.New("stored ACME account key is not PEM")
	}
	return x509.ParseECPrivateKey(b.Bytes)
}

// renewalInfoURL reads the directory's ARI endpoint (RFC 9773), which x/crypto/acme does not
// expose. Failures mean "none".
func (m *Manager) renewalInfoURL(ctx context.Context, directory string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, directory, nil)
	if err != nil {
		return ""
	}
	res, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	var dir struct {
		RenewalInfo string `json:"renewalInfo"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&dir) != nil {
		return ""
	}
	return dir.RenewalInfo
}
