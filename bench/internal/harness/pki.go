package harness

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/credentials"
)

// PKI is a cluster CA made by the benchmark and given to the control plane (--ca-cert,
// --ca-key), so the fake agents can hold certificates from it without enrolling one by one.
type PKI struct {
	Dir  string // holds ca.pem, ca.key and the secrets key
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

// NewPKI makes a CA and writes it, with a secrets key, to a temporary directory.
func NewPKI() (*PKI, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	ca, _ := x509.ParseCertificate(der)
	dir, err := os.MkdirTemp("", "edgeplane-bench-pki-")
	if err != nil {
		return nil, err
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	for name, b := range map[string][]byte{
		"ca.pem":      pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"ca.key":      pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"secrets.key": secret,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return nil, err
		}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &PKI{Dir: dir, ca: ca, key: key, pool: pool}, nil
}

// ControlFlags are the control plane's flags for TLS with this CA.
func (p *PKI) ControlFlags() []string {
	return []string{"--secrets-key-file", filepath.Join(p.Dir, "secrets.key"),
		"--ca-cert", filepath.Join(p.Dir, "ca.pem"), "--ca-key", filepath.Join(p.Dir, "ca.key")}
}

// AgentCert issues an agent certificate (CN=node, OU=agent).
func (p *PKI) AgentCert(node string) (*tls.Certificate, error) { return p.ClientCert(node, "agent") }

// ClientCert issues a client certificate naming cn with role (an admin's: CN=name, OU=admin).
func (p *PKI) ClientCert(cn, role string) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 100))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{role}},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.key)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// Creds returns client credentials trusting the CA, presenting cert if not nil.
func (p *PKI) Creds(cert *tls.Certificate) credentials.TransportCredentials {
	cfg := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return credentials.NewTLS(cfg)
}

// Close removes the directory.
func (p *PKI) Close() { _ = os.RemoveAll(p.Dir) }
