// Package identity is an agent's certificate: enrolment with a join token and a CA pin, the
// mTLS credentials of the config stream, and renewal. The private key is made on the node
// and never leaves it; it is kept sealed in the cache directory (cache.WriteSealed), the
// certificate and the CA beside it, all mode 0600.
package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/cache"
)

// Files in the cache directory.
const (
	certFile = "agent.crt"
	keyFile  = "agent.key"
	caFile   = "ca.crt"
)

// Identity is the agent's certificate, CA and key. Its methods are safe for concurrent use.
type Identity struct {
	dir string

	mu   sync.Mutex // guards the fields below
	cert *tls.Certificate
	ca   *x509.Certificate
	// pending is the key of a renewal request not answered yet.
	pending *ecdsa.PrivateKey
}

// Load reads the identity kept in dir. The error wraps fs.ErrNotExist if there is none.
func Load(dir string) (*Identity, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, certFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := cache.ReadSealed(dir, keyFile)
	if err != nil {
		return nil, fmt.Errorf("agent key: %w", err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, caFile))
	if err != nil {
		return nil, err
	}
	id := &Identity{dir: dir}
	if err := id.set(certPEM, keyPEM, caPEM); err != nil {
		return nil, err
	}
	return id, nil
}

func (id *Identity) set(certPEM, keyPEM, caPEM []byte) error {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("agent certificate: %w", err)
	}
	ca, err := parseCert(caPEM)
	if err != nil {
		return fmt.Errorf("cluster CA: %w", err)
	}
	id.mu.Lock()
	id.cert, id.ca = &pair, ca
	id.mu.Unlock()
	return nil
}

// save writes the identity to dir: the key sealed, the rest in PEM, all 0600.
func save(dir string, certPEM, keyPEM, caPEM []byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := cache.WriteSealed(dir, keyFile, keyPEM); err != nil {
		return fmt.Errorf("saving the agent key: %w", err)
	}
	for name, b := range map[string][]byte{certFile: certPEM, caFile: caPEM} {
		if err := os.WriteFile(filepath.Join(dir, name+".tmp"), b, 0o600); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(dir, name+".tmp"), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// NodeID returns the node id the certificate names.
func (id *Identity) NodeID() string {
	id.mu.Lock()
	defer id.mu.Unlock()
	return id.cert.Leaf.Subject.CommonName
}

// RenewAt returns when the certificate should be renewed: at two thirds of its life.
func (id *Identity) RenewAt() time.Time {
	id.mu.Lock()
	defer id.mu.Unlock()
	l := id.cert.Leaf
	return l.NotBefore.Add(l.NotAfter.Sub(l.NotBefore) * 2 / 3)
}

// RenewalRequest returns a PEM certificate request for a new key, kept until Renewed.
func (id *Identity) RenewalRequest() ([]byte, error) {
	key, csr, err := newRequest(id.NodeID())
	if err != nil {
		return nil, err
	}
	id.mu.Lock()
	id.pending = key
	id.mu.Unlock()
	return csr, nil
}

// Renewed installs the certificate answering the last RenewalRequest and saves it; new
// connections present it.
func (id *Identity) Renewed(certPEM, caPEM []byte) error {
	id.mu.Lock()
	key := id.pending
	id.pending = nil
	id.mu.Unlock()
	if key == nil {
		return errors.New("a renewed certificate arrived without a pending request")
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return err
	}
	if err := id.set(certPEM, keyPEM, caPEM); err != nil {
		return err
	}
	return save(id.dir, certPEM, keyPEM, caPEM)
}

// newRequest makes an ECDSA P-256 key and a certificate request for it naming node.
func newRequest(node string) (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: node, OrganizationalUnit: []string{"agent"}}}, key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

func parseCert(p []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(p)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("not a PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
