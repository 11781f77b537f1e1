package proxy

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

// testCert returns a self-signed certificate for names, valid for validFor.
func testCert(t testing.TB, name string, validFor time.Duration, names ...string) *edgeplanev1.TlsCertificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(validFor)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	return &edgeplanev1.TlsCertificate{Name: name, Domains: names,
		CertificatePem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		PrivateKeyPem:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})}
}

func servedName(t *testing.T, p *Proxy, sni string) string {
	t.Helper()
	c, err := p.GetCertificate(&tls.ClientHelloInfo{ServerName: sni})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.Subject.CommonName
}

func TestProxy_GetCertificate(t *testing.T) {
	p := newProxy(t, Config{})
	withTLS := func(r *edgeplanev1.Route, mode edgeplanev1.TlsMode, cert string) *edgeplanev1.Route {
		r.Tls = &edgeplanev1.TlsPolicy{Mode: mode, Certificate: cert}
		return r
	}
	apply(t, p, &edgeplanev1.ConfigUpdate{
		Certificates: []*edgeplanev1.TlsCertificate{
			testCert(t, "shop", 90*24*time.Hour, "shop.test", "www.shop.test"),
			testCert(t, "wild", 90*24*time.Hour, "*.apps.test"),
			testCert(t, "old", 10*24*time.Hour, "both.test"),
			testCert(t, "new", 80*24*time.Hour, "both.test"),
			testCert(t, "named", 90*24*time.Hour, "named.test"),
		},
		Routes: []*edgeplanev1.Route{withTLS(route("extra", "extra.test", "http://127.0.0.1:1"), edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, "named")},
	})
	tests := map[string]string{
		"shop.test": "shop.test", "WWW.Shop.Test": "shop.test", "shop.test.": "shop.test",
		"a.apps.test": "apps.test", "a.b.apps.test": "edgeplane default certificate", "apps.test": "edgeplane default certificate",
		"both.test": "both.test", "extra.test": "named.test", "": "edgeplane default certificate", "nope.test": "edgeplane default certificate",
	}
	for sni, wantCN := range tests {
		if got := servedName(t, p, sni); got != strings.Replace(wantCN, "apps.test", "*.apps.test", 1) && got != wantCN {
			t.Errorf("SNI %q: served %q, want %q", sni, got, wantCN)
		}
	}
	c, _ := p.GetCertificate(&tls.ClientHelloInfo{ServerName: "both.test"})
	if time.Until(c.Leaf.NotAfter) < 30*24*time.Hour {
		t.Error("two certificates for one name: want the one valid longer")
	}
}

func TestProxy_BadCertificateFailsBuild(t *testing.T) {
	p := newProxy(t, Config{})
	bad := testCert(t, "bad", time.Hour, "bad.test")
	bad.PrivateKeyPem = testCert(t, "other", time.Hour, "x.test").PrivateKeyPem
	s := mustSet(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Certificates: []*edgeplanev1.TlsCertificate{bad}})
	if _, err := p.Build(s); err == nil || !strings.Contains(err.Error(), `certificate "bad"`) {
		t.Errorf("Build() error = %v, want one naming certificate \"bad\"", err)
	}
}

func TestProxy_ACMEAndRedirects(t *testing.T) {
	be := echo(t, "be")
	tlsRoute := func(name, host string, mode edgeplanev1.TlsMode) *edgeplanev1.Route {
		r := route(name, host, be.URL)
		r.Tls = &edgeplanev1.TlsPolicy{Mode: mode, RedirectHttp: true}
		return r
	}
	p := newProxy(t, Config{HTTPSPort: "8443"})
	apply(t, p, &edgeplanev1.ConfigUpdate{
		Routes: []*edgeplanev1.Route{
			tlsRoute("secure", "secure.test", edgeplanev1.TlsMode_TLS_MODE_ACME),
			tlsRoute("pending", "pending.test", edgeplanev1.TlsMode_TLS_MODE_ACME), // no certificate yet
		},
		Certificates: []*edgeplanev1.TlsCertificate{testCert(t, "secure", 24*time.Hour, "secure.test")},
		Challenges:   []*edgeplanev1.AcmeChallenge{{Token: "tok123", KeyAuthorization: "tok123.thumbprint"}},
	})
	noFollow := func(f front) front {
		c := *f.client
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return front{f.url, &c}
	}
	for mode, f := range paths(t, p) {
		f = noFollow(f)
		t.Run(mode, func(t *testing.T) {
			for _, host := range []string{"secure.test", "unknown.test", "pending.test"} {
				resp, body := get(t, f, host, "/.well-known/acme-challenge/tok123")
				if resp.StatusCode != 200 || body != "tok123.thumbprint" {
					t.Errorf("challenge on %s: got %d %q, want 200 with the key authorization", host, resp.StatusCode, body)
				}
			}
			if resp, body := get(t, f, "secure.test", "/.well-known/acme-challenge/other"); resp.StatusCode != 200 || body != "hello from be" {
				t.Errorf("unknown token on a redirecting route: got %d %q, want it proxied, not redirected", resp.StatusCode, body)
			}
			resp, _ := get(t, f, "secure.test:80", "/a/b?c=d")
			if resp.StatusCode != http.StatusMovedPermanently || resp.Header.Get("Location") != "https://secure.test:8443/a/b?c=d" {
				t.Errorf("GET: got %d to %q, want 301 to https://secure.test:8443/a/b?c=d", resp.StatusCode, resp.Header.Get("Location"))
			}
			resp, _ = do(t, f, http.MethodPost, "secure.test", "/form", strings.NewReader("x=1"))
			if resp.StatusCode != http.StatusPermanentRedirect {
				t.Errorf("POST: got %d, want 308", resp.StatusCode)
			}
			if resp, body := get(t, f, "pending.test", "/"); resp.StatusCode != 200 || body != "hello from be" {
				t.Errorf("route whose certificate has not arrived: got %d %q, want it served over HTTP", resp.StatusCode, body)
			}
		})
	}
}
