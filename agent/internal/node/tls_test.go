package node

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func testCert(t *testing.T, name string) *edgeplanev1.TlsCertificate {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kb, _ := x509.MarshalECPrivateKey(key)
	return &edgeplanev1.TlsCertificate{Name: name, Domains: []string{name},
		CertificatePem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKeyPem:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})}
}

// servedCN returns the common name of the certificate the agent serves for sni.
func servedCN(t *testing.T, addr, sni string) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestAgent_CertificatesChallengesAndMetrics(t *testing.T) {
	dir := t.TempDir()
	one := backend(t, "one")
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr, CacheDir: dir, HTTPSAddr: "127.0.0.1:0"})
	secure := route("secure", "secure.test", one)
	secure.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: "secure.test", RedirectHttp: true}
	s := cp.next(t)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 3, Snapshot: true, Routes: []*edgeplanev1.Route{secure},
		Certificates: []*edgeplanev1.TlsCertificate{testCert(t, "secure.test")}}), 3)
	// A delta adds a challenge; one that drops a certificate still in use is refused.
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 4, BaseRevision: 3,
		Challenges: []*edgeplanev1.AcmeChallenge{{Token: "tok", KeyAuthorization: "tok.key"}}}), 4)
	wantNack(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 5, BaseRevision: 4, DeletedCertificates: []string{"secure.test"}}),
		5, `route "secure": certificate "secure.test" is not in the config`)

	if cn := servedCN(t, a.HTTPSAddr(), "secure.test"); cn != "secure.test" {
		t.Errorf("SNI secure.test: certificate %q", cn)
	}
	if code, body := fetch(t, a.Addr(), "any.host", "/.well-known/acme-challenge/tok"); code != 200 || body != "tok.key" {
		t.Errorf("challenge: got %d %q", code, body)
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.Addr()+"/p", nil)
	req.Host = "secure.test"
	resp, err := (&http.Transport{}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, port, _ := strings.Cut(a.HTTPSAddr(), ":")
	if want := "https://secure.test:" + port + "/p"; resp.StatusCode != 301 || resp.Header.Get("Location") != want {
		t.Errorf("plain HTTP: got %d to %q, want 301 to %q", resp.StatusCode, resp.Header.Get("Location"), want)
	}

	// The request is counted just after its response is written: poll briefly.
	wants := []string{"edgeplane_agent_config_revision 4", "edgeplane_agent_control_plane_connected 1",
		`edgeplane_agent_requests_total{code_class="3xx",route="secure"} 1`}
	var missing []string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		_, body := fetch(t, a.MetricsAddr(), "x", "/metrics")
		missing = missing[:0]
		for _, want := range wants {
			if !strings.Contains(body, want) {
				missing = append(missing, want)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(missing) > 0 {
		t.Errorf("/metrics lacks %q", missing)
	}

	// Restarted from its cache, without a control plane, the agent has the certificate. (The
	// cache is written in the background after the Ack.)
	waitUntil(t, "the served revision in the cache", func() bool { return cachedRevision(dir) == a.Revision() })
	second := startAgent(t, Config{ControlPlane: closedAddr(t), CacheDir: dir, HTTPSAddr: "127.0.0.1:0"})
	if second.ConfigHash() != a.ConfigHash() {
		t.Errorf("from cache: hash %q, want %q", second.ConfigHash(), a.ConfigHash())
	}
	if cn := servedCN(t, second.HTTPSAddr(), "secure.test"); cn != "secure.test" {
		t.Errorf("from cache: SNI secure.test got certificate %q", cn)
	}
}
