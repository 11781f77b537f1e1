package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/capin"
)

// testCA signs agent certificates the way the control plane does.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ca"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (ca *testCA) sign(t *testing.T, csrPEM []byte, notBefore time.Time, life time.Duration) []byte {
	t.Helper()
	block, _ := pem.Decode(csrPEM)
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject,
		NotBefore: notBefore, NotAfter: notBefore.Add(life), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, csr.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestInstallLoadRenew(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of an empty dir: %v, want ErrNotExist", err)
	}
	ca := newTestCA(t)
	key, csr, err := newRequest("edge-1")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Truncate(time.Second)
	res := &edgeplanev1.EnrollResponse{CertificatePem: ca.sign(t, csr, start, 3*time.Hour), CaPem: ca.pem, NodeId: "edge-1"}
	if _, err := install(res, key, capin.Of(newTestCA(t).cert), dir); err == nil {
		t.Error("install with another CA's pin: got nil error")
	}
	other, _, _ := newRequest("edge-1")
	if _, err := install(res, other, capin.Of(ca.cert), dir); err == nil {
		t.Error("install of a certificate for another key: got nil error")
	}
	if _, err := install(res, key, capin.Of(ca.cert), dir); err != nil {
		t.Fatal(err)
	}
	keyFile, _ := os.ReadFile(filepath.Join(dir, keyFile))
	if bytes.Contains(keyFile, []byte("PRIVATE KEY")) {
		t.Error("agent.key holds the key in clear")
	}
	id, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if id.NodeID() != "edge-1" || !id.RenewAt().Equal(start.Add(2*time.Hour)) {
		t.Errorf("node %q renew at %v, want edge-1 at two thirds of the life (%v)", id.NodeID(), id.RenewAt(), start.Add(2*time.Hour))
	}
	if err := id.Renewed(res.GetCertificatePem(), ca.pem); err == nil {
		t.Error("Renewed without a request: got nil error")
	}
	csr2, err := id.RenewalRequest()
	if err != nil {
		t.Fatal(err)
	}
	later := start.Add(time.Hour)
	if err := id.Renewed(ca.sign(t, csr2, later, 3*time.Hour), ca.pem); err != nil {
		t.Fatal(err)
	}
	again, err := Load(dir)
	if err != nil || !again.RenewAt().Equal(later.Add(2*time.Hour)) {
		t.Errorf("after renewal: %v, renew at %v, want %v", err, again.RenewAt(), later.Add(2*time.Hour))
	}
}
