package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// certIndex picks a certificate by server name: an exact name first, then a wildcard
// covering one leading label, then none (the caller uses the default certificate).
type certIndex struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // "example.com" for "*.example.com"
	parsed   map[*edgeplanev1.TlsCertificate]*tls.Certificate
}

// lookup is called during every TLS handshake; it must not block.
func (ci *certIndex) lookup(name string) *tls.Certificate {
	if c := ci.exact[name]; c != nil {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		return ci.wildcard[name[i+1:]]
	}
	return nil
}

// covers reports whether a certificate other than the default serves host (a route host,
// possibly "*.example.com").
func (ci *certIndex) covers(host string) bool {
	if suffix, ok := strings.CutPrefix(host, "*."); ok {
		return ci.wildcard[suffix] != nil
	}
	return ci.lookup(host) != nil
}

// buildCerts parses certs (reusing prev's parse of unchanged ones) and indexes them by
// their domains (the leaf's DNS names when domains is empty). Where two certificates cover
// one name, the one valid longest wins. Hosts of routes in TLS_MODE_CERTIFICATE that no
// certificate's domains cover are served with the route's named certificate.
func buildCerts(certs []*edgeplanev1.TlsCertificate, routes []*edgeplanev1.Route, prev *certIndex) (*certIndex, error) {
	ci := &certIndex{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{},
		parsed: make(map[*edgeplanev1.TlsCertificate]*tls.Certificate, len(certs))}
	byName := make(map[string]*tls.Certificate, len(certs))
	for _, c := range certs {
		tc := prev.reuse(c)
		if tc == nil {
			parsed, err := parseCert(c)
			if err != nil {
				return nil, err
			}
			tc = parsed
		}
		ci.parsed[c] = tc
		byName[c.GetName()] = tc
		domains := c.GetDomains()
		if len(domains) == 0 {
			domains = tc.Leaf.DNSNames
		}
		for _, d := range domains {
			ci.add(strings.ToLower(d), tc)
		}
	}
	for _, r := range routes {
		if r.GetTls().GetMode() != edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE {
			continue
		}
		tc := byName[r.GetTls().GetCertificate()]
		for _, h := range r.GetHosts() {
			if h = strings.ToLower(h); tc != nil && !ci.covers(h) {
				ci.add(h, tc)
			}
		}
	}
	return ci, nil
}

func (ci *certIndex) reuse(c *edgeplanev1.TlsCertificate) *tls.Certificate {
	if ci == nil {
		return nil
	}
	return ci.parsed[c]
}

func (ci *certIndex) add(name string, c *tls.Certificate) {
	m := ci.exact
	if suffix, ok := strings.CutPrefix(name, "*."); ok {
		m, name = ci.wildcard, suffix
	}
	if old := m[name]; old == nil || c.Leaf.NotAfter.After(old.Leaf.NotAfter) {
		m[name] = c
	}
}

func parseCert(c *edgeplanev1.TlsCertificate) (*tls.Certificate, error) {
	tc, err := tls.X509KeyPair(c.GetCertificatePem(), c.GetPrivateKeyPem())
	if err != nil {
		return nil, fmt.Errorf("certificate %q: %w", c.GetName(), err)
	}
	if tc.Leaf == nil {
		if tc.Leaf, err = x509.ParseCertificate(tc.Certificate[0]); err != nil {
			return nil, fmt.Errorf("certificate %q: %w", c.GetName(), err)
		}
	}
	return &tc, nil
}

// selfSigned returns a fresh self-signed certificate, served to clients asking for a name
// no pushed certificate covers (and to clients sending no server name).
func selfSigned() (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "edgeplane default certificate", Organization: []string{"edgeplane"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"edgeplane.invalid"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// GetCertificate picks the certificate for a TLS handshake by SNI: a pushed certificate for
// the exact name, else one for a wildcard covering it, else the agent's self-signed
// default. It is called during every TLS handshake and must not block: an atomic load and
// at most two map lookups.
func (p *Proxy) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if t := p.table.Load(); t != nil && hello.ServerName != "" {
		if c := t.certs.lookup(strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))); c != nil {
			return c, nil
		}
	}
	return p.defaultCert, nil
}

// TLSConfig returns the HTTPS listener's TLS configuration: TLS 1.2 or later, ALPN h2 and
// http/1.1, certificates chosen by GetCertificate.
func (p *Proxy) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: p.GetCertificate,
	}
}
