package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"runtime"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// makeCerts returns n certificates, cert-<i>.bench.test, all signed with one key (generating
// 10,000 keys would only slow the setup; the agent parses and indexes each certificate
// separately either way).
func makeCerts(tb testing.TB, n int) []*edgeplanev1.TlsCertificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	out := make([]*edgeplanev1.TlsCertificate, n)
	for i := range n {
		name := fmt.Sprintf("cert-%d.bench.test", i)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: name},
			DNSNames: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = &edgeplanev1.TlsCertificate{Name: fmt.Sprintf("c%d", i), Domains: []string{name},
			CertificatePem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), PrivateKeyPem: keyPEM}
	}
	return out
}

// BenchmarkTLSHandshake measures full handshakes against the agent's certificate selection
// with 1 and with 10,000 certificates loaded: SNI lookup is two map reads, so the two should
// match. It also reports the heap the loaded certificates take.
func BenchmarkTLSHandshake(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("certs=%d", n), func(b *testing.B) {
			certs := makeCerts(b, n)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			p := newProxy(b, Config{})
			apply(b, p, &edgeplanev1.ConfigUpdate{Certificates: certs})
			runtime.GC()
			runtime.ReadMemStats(&after)
			ln, err := tls.Listen("tcp", "127.0.0.1:0", p.TLSConfig())
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					go func() { _ = c.(*tls.Conn).Handshake(); c.Close() }()
				}
			}()
			name := fmt.Sprintf("cert-%d.bench.test", n-1)
			cfg := &tls.Config{ServerName: name, InsecureSkipVerify: true, ClientSessionCache: nil}
			b.ResetTimer()
			for range b.N {
				c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
				if err != nil {
					b.Fatal(err)
				}
				if got := c.ConnectionState().PeerCertificates[0].DNSNames[0]; got != name {
					b.Fatalf("served %s, want %s", got, name)
				}
				c.Close()
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "handshakes/s")
			b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/float64(n)/1024, "heap-KiB/cert")
		})
	}
}
