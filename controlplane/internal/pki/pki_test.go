package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/internal/capin"
)

func csrPEM(t *testing.T, key any, cn string) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, OrganizationalUnit: []string{"admin"}}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func TestCA_NewParsePin(t *testing.T) {
	ca, keyPEM, err := New()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(ca.PEM(), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if again.Pin() != ca.Pin() || !strings.HasPrefix(ca.Pin(), "sha256:") || len(ca.Pin()) != 7+64 {
		t.Errorf("pins %q, %q: want one sha256:<64 hex>", ca.Pin(), again.Pin())
	}
	if _, err := capin.Parse(strings.ToUpper(ca.Pin()[7:])); err == nil {
		t.Error("capin.Parse without the sha256: prefix: got nil error")
	}
	if p, err := capin.Parse("SHA256:" + strings.ToUpper(ca.Pin()[7:])); err != nil || p != ca.Pin() {
		t.Errorf("capin.Parse upper case: %q %v, want %q", p, err, ca.Pin())
	}
	_, otherKey, _ := New()
	if _, err := Parse(ca.PEM(), otherKey); err == nil {
		t.Error("Parse with another CA's key: got nil error")
	}
}

func TestCheckToken_Bounds(t *testing.T) {
	long := strings.Repeat("k", 64)
	many := map[string]string{}
	for i := range MaxTokenLabels + 1 {
		many[string(rune('a'+i%26))+strings.Repeat("x", i)] = "v"
	}
	tests := []struct {
		name    string
		ttl     time.Duration
		uses    int
		node    string
		labels  map[string]string
		wantErr bool
	}{
		{"defaults", DefaultTokenTTL, 1, "", nil, false},
		{"ttl too short", time.Second, 1, "", nil, true},
		{"ttl too long", MaxTokenTTL + time.Hour, 1, "", nil, true},
		{"too many uses", DefaultTokenTTL, MaxTokenUses + 1, "", nil, true},
		{"bad node id", DefaultTokenTTL, 1, "../etc", nil, true},
		{"long label key", DefaultTokenTTL, 1, "", map[string]string{long: "v"}, true},
		{"too many labels", DefaultTokenTTL, 1, "", many, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := checkToken(tt.ttl, tt.uses, tt.node, tt.labels); (err != nil) != tt.wantErr {
				t.Errorf("got %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestSignCSR_IdentityFromCallerNotRequest(t *testing.T) {
	ca, _, _ := New()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certPEM, cert, err := ca.SignCSR(csrPEM(t, key, "someone-else"), "edge-1", RoleAgent, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(certPEM), "BEGIN CERTIFICATE") {
		t.Errorf("certificate PEM: %q", certPEM)
	}
	id, err := IdentityOf(cert)
	if err != nil || id.Name != "edge-1" || id.Role != RoleAgent {
		t.Errorf("identity: %+v %v, want edge-1/agent (the request's own subject is ignored)", id, err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the certificate does not verify against the CA as a client certificate: %v", err)
	}
	if d := cert.NotAfter.Sub(cert.NotBefore); d != time.Hour {
		t.Errorf("lifetime %s, want 1h", d)
	}
}

func TestSignCSR_RefusesBadRequests(t *testing.T) {
	ca, _, _ := New()
	weak, _ := rsa.GenerateKey(rand.Reader, 1024)
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	good, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tampered := csrPEM(t, good, "x")
	block, _ := pem.Decode(tampered)
	block.Bytes[len(block.Bytes)-5] ^= 0xff
	tests := map[string][]byte{
		"garbage":          []byte("not a csr"),
		"certificate":      ca.PEM(),
		"RSA 1024":         csrPEM(t, weak, "x"),
		"P-224":            csrPEM(t, p224, "x"),
		"broken signature": pem.EncodeToMemory(block),
		"too large":        []byte(strings.Repeat("a", MaxCSRSize+1)),
	}
	for name, req := range tests {
		t.Run(name, func(t *testing.T) {
			if _, _, err := ca.SignCSR(req, "edge-1", RoleAgent, time.Hour); !errors.Is(err, ErrBadCSR) {
				t.Errorf("got %v, want ErrBadCSR", err)
			}
		})
	}
}

func TestIssueServer_VerifiesForNamesAndPins(t *testing.T) {
	ca, _, _ := New()
	c, err := ca.IssueServer([]string{"cp.example.test", "10.0.0.7"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cp.example.test", "10.0.0.7"} {
		if _, err := capin.VerifyChain(c.Certificate, ca.Pin(), name); err != nil {
			t.Errorf("VerifyChain for %s: %v", name, err)
		}
	}
	if _, err := capin.VerifyChain(c.Certificate, ca.Pin(), "other.test"); err == nil {
		t.Error("VerifyChain for a name not in the certificate: got nil error")
	}
	other, _, _ := New()
	if _, err := capin.VerifyChain(c.Certificate, other.Pin(), "cp.example.test"); !errors.Is(err, capin.ErrNoMatch) {
		t.Errorf("VerifyChain with another CA's pin: got %v, want ErrNoMatch", err)
	}
	// A chain that carries the pinned CA but a leaf the CA did not sign.
	forged, _ := other.IssueServer([]string{"cp.example.test"}, time.Hour)
	chain := [][]byte{forged.Certificate[0], ca.Certificate().Raw}
	if _, err := capin.VerifyChain(chain, ca.Pin(), "cp.example.test"); err == nil {
		t.Error("VerifyChain of a leaf from another CA next to the pinned CA: got nil error")
	}
}

func TestRevoked(t *testing.T) {
	issued := time.Unix(1000, 0)
	id := Identity{Name: "n", Cert: &x509.Certificate{NotBefore: issued}}
	tests := []struct {
		at   time.Time
		want bool
	}{
		{time.Time{}, false},
		{issued.Add(-time.Second), false},
		{issued, true},
		{issued.Add(time.Second), true},
	}
	for _, tt := range tests {
		if got := Revoked(id, tt.at); got != tt.want {
			t.Errorf("Revoked(issued %v, revoked %v) = %v, want %v", issued, tt.at, got, tt.want)
		}
	}
}
