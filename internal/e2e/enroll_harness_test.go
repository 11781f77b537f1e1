package e2e

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/capin"
)

// startControlTLS starts a replica serving TLS (no --insecure), and connects to it trusting
// the CA whose pin it logs. It returns the replica and the pin.
func startControlTLS(t *testing.T, redisURL, replica string, extra ...string) (*control, string) {
	t.Helper()
	key := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte("p"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	args := append([]string{"--redis-url", redisURL, "--grpc-addr", addr, "--http-addr", "-", "--secrets-key-file", key,
		"--replica-id", replica, "--log-format", "json", "--log-level", "debug"}, extra...)
	c := &control{proc: startProc(t, replica, bins.control, args...), Addr: addr}
	var pin string
	eventually(t, 20*time.Second, func() error {
		for _, l := range c.proc.Lines() {
			if p, ok := l["ca_pin"].(string); ok {
				pin = p
				return nil
			}
		}
		return errNotYet
	})
	if adminToken != nil {
		c.token = adminToken(t, redisURL)
	}
	c.conn = dialTLS(t, addr, pin, nil, c.token)
	c.WaitServing()
	return c, pin
}

// adminToken, when set, returns an admin bearer token for the control plane on redisURL
// (edgeplane-control token create): the admin calls of these tests then carry it. Nil while
// the control plane has no admin authentication.
var adminToken func(t testing.TB, redisURL string) string

// bearer is a token sent as "authorization: Bearer ..." on every call, over TLS only.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return true }

// dialTLS connects to addr over TLS, trusting the server only if its chain holds the pinned
// CA, presenting cert if not nil.
func dialTLS(t testing.TB, addr, pin string, cert *tls.Certificate, token ...string) *grpc.ClientConn {
	t.Helper()
	host, _, _ := net.SplitHostPort(addr)
	cfg := &tls.Config{InsecureSkipVerify: true, VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
		_, err := capin.VerifyChain(raw, pin, host)
		return err
	}}
	if cert != nil { // always offered, even when the server names other acceptable CAs
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
	if len(token) > 0 && token[0] != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token[0])))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// enrol makes a key on the test's side, enrols it with token as node and returns the
// certificate with its key.
func enrol(ctx context.Context, conn *grpc.ClientConn, token, node string) (*tls.Certificate, error) {
	key, csr := newCSR(node)
	res, err := edgeplanev1.NewAgentServiceClient(conn).Enroll(ctx, &edgeplanev1.EnrollRequest{JoinToken: token, NodeId: node, CsrPem: csr})
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(res.GetCertificatePem())
	return &tls.Certificate{Certificate: [][]byte{block.Bytes}, PrivateKey: key}, nil
}

func newCSR(node string) (*ecdsa.PrivateKey, []byte) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: node}}, key)
	return key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

// foreignCert is an agent certificate for node from a CA the control plane does not know.
func foreignCert(t *testing.T, node string) *tls.Certificate {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: "rogue CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: node, OrganizationalUnit: []string{"agent"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

var errNotYet = errors.New("not yet")

func bigOne() *big.Int { return big.NewInt(time.Now().UnixNano()) }

// Lines returns every log record so far.
func (p *proc) Lines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.lines...)
}

// LogsContaining returns the log records whose msg is msg and whose error mentions text.
func (p *proc) LogsContaining(msg, text string) []map[string]any {
	var out []map[string]any
	for _, l := range p.Logs(msg) {
		if e, _ := l["error"].(string); strings.Contains(e, text) {
			out = append(out, l)
		}
	}
	return out
}
