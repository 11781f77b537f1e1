package e2e

import (
	"bytes"
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// A TLS_MODE_SELF_SIGNED route gets a certificate made by the control plane, which every
// agent serves by SNI; plain HTTP is redirected to HTTPS, except ACME challenge paths.
func TestSelfSigned_RouteIsServedOverHTTPSWithRedirect(t *testing.T) {
	rds := redistest.New(t)
	key := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte("s"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := startControl(t, rds.URL(), "cp-1", "--secrets-key-file", key)
	httpsAddr := freeAddr(t)
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir(), "--https-addr", httpsAddr)
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	r := route("secure", "secure.test", backend(t, "S"))
	r.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_SELF_SIGNED, RedirectHttp: true}
	if res := create(t, cp, r); res.GetPropagation().GetAcked() != 1 {
		t.Fatalf("propagation: got %v, want acked", res.GetPropagation())
	}

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{ServerName: "secure.test", InsecureSkipVerify: true}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+httpsAddr+"/x", nil)
	req.Host = "secure.test"
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	leaf := res.TLS.PeerCertificates[0]
	if res.StatusCode != http.StatusOK || string(body) != "S /x" {
		t.Errorf("HTTPS: got %d %q, want 200 from the backend", res.StatusCode, body)
	}
	if !slices.Equal(leaf.DNSNames, []string{"secure.test"}) || !slices.Contains(leaf.Subject.Organization, "edgeplane self-signed") {
		t.Errorf("served certificate: names %v, subject %v; want the control plane's for secure.test", leaf.DNSNames, leaf.Subject)
	}

	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ = http.NewRequest(http.MethodGet, "http://"+ag.Addr+"/x?y=1", nil)
	req.Host = "secure.test"
	res, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusMovedPermanently || loc == "" || loc[:8] != "https://" {
		t.Errorf("plain HTTP: got %d Location %q, want a 301 to https", res.StatusCode, loc)
	}
	req, _ = http.NewRequest(http.MethodGet, "http://"+ag.Addr+"/.well-known/acme-challenge/none", nil)
	req.Host = "secure.test"
	if res, err = noFollow.Do(req); err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusMovedPermanently {
		t.Errorf("ACME challenge path was redirected")
	}
}
