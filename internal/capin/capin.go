// Package capin computes and checks CA pins: "sha256:" followed by the hex SHA-256 of a
// certificate's SubjectPublicKeyInfo, as kubeadm's --discovery-token-ca-cert-hash. An agent
// that knows the pin can trust a control plane's CA it has never seen, without trusting
// whatever the network hands it first.
package capin

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Prefix starts every pin.
const Prefix = "sha256:"

// Of returns cert's pin.
func Of(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return Prefix + hex.EncodeToString(sum[:])
}

// Parse checks that pin is well formed and returns it in canonical (lower-case) form.
func Parse(pin string) (string, error) {
	hexPart, ok := strings.CutPrefix(strings.ToLower(strings.TrimSpace(pin)), Prefix)
	if !ok {
		return "", fmt.Errorf("CA pin %q does not start with %q", pin, Prefix)
	}
	if b, err := hex.DecodeString(hexPart); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("CA pin %q: want %s and 64 hex digits", pin, Prefix)
	}
	return Prefix + hexPart, nil
}

// Matches reports whether cert has the (canonical) pin, in constant time.
func Matches(cert *x509.Certificate, pin string) bool {
	return subtle.ConstantTimeCompare([]byte(Of(cert)), []byte(pin)) == 1
}

// ErrNoMatch says no certificate offered has the pin.
var ErrNoMatch = errors.New("no certificate the server offered matches the CA pin")

// VerifyChain checks a TLS peer's raw chain: some certificate in it must have the pin and be
// a CA, and the leaf must be signed by it (directly or through the other certificates) and
// valid now for serverName. It returns the pinned CA.
func VerifyChain(rawCerts [][]byte, pin, serverName string) (*x509.Certificate, error) {
	certs := make([]*x509.Certificate, 0, len(rawCerts))
	for _, raw := range rawCerts {
		c, err := x509.ParseCertificate(raw)
		if err != nil {
			return nil, fmt.Errorf("server certificate: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("the server offered no certificate")
	}
	for _, ca := range certs {
		if !ca.IsCA || !Matches(ca, pin) {
			continue
		}
		roots, inter := x509.NewCertPool(), x509.NewCertPool()
		roots.AddCert(ca)
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: serverName}); err != nil {
			return nil, fmt.Errorf("server certificate does not verify against the pinned CA: %w", err)
		}
		return ca, nil
	}
	return nil, ErrNoMatch
}
