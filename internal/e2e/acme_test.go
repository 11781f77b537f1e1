package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/pebbletest"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// acmeSite is a real redis-server, Pebble validating against an agent's HTTP port, and the
// flags a control plane needs to use them.
type acmeSite struct {
	rds      *redistest.Server
	ca       *pebbletest.CA
	httpAddr string // the agent's, given to Pebble before the agent starts
	flags    []string
}

func newACMESite(t *testing.T, validity time.Duration, pebbleHTTPPort int) *acmeSite {
	t.Helper()
	s := &acmeSite{rds: redistest.New(t), httpAddr: freeAddr(t)}
	if pebbleHTTPPort == 0 {
		_, p, _ := net.SplitHostPort(s.httpAddr)
		pebbleHTTPPort, _ = strconv.Atoi(p)
	}
	s.ca = pebbletest.Start(t, pebbletest.Config{HTTPPort: pebbleHTTPPort, Validity: validity})
	key := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	s.flags = []string{"--acme-directory", s.ca.Directory, "--acme-ca-file", s.ca.CAFile,
		"--acme-email", "ops@example.test", "--secrets-key-file", key, "--acme-retry-min", "500ms"}
	return s
}

// tlsAgent is an agent whose HTTP and HTTPS addresses the test knows.
type tlsAgent struct {
	*agent
	HTTPS string
}

func (s *acmeSite) startAgent(t *testing.T, cpAddr, node string) *tlsAgent {
	t.Helper()
	https := freeAddr(t)
	args := []string{"--control-plane", cpAddr, "--node-id", node, "--http-addr", s.httpAddr, "--https-addr", https,
		"--metrics-addr", freeAddr(t), "--cache-dir", t.TempDir(), "--log-format", "json"}
	a := &tlsAgent{agent: &agent{proc: startProc(t, node, bins.agent, args...), Node: node, Addr: s.httpAddr}, HTTPS: https}
	a.WaitListening()
	return a
}

// client verifies the agent's certificates against Pebble's root and sends every request
// to the agent's HTTPS port.
func (a *tlsAgent) client(roots *x509.CertPool) *http.Client {
	dial := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dial.DialContext(ctx, network, a.HTTPS)
		},
	}}
}

// servedSerial opens a new TLS connection for host and returns the serial number it shows.
func (a *tlsAgent) servedSerial(host string, roots *x509.CertPool) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", a.HTTPS, &tls.Config{ServerName: host, RootCAs: roots})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

func (c *control) Certs() edgeplanev1.CertificateServiceClient {
	return edgeplanev1.NewCertificateServiceClient(c.conn)
}

// waitStatus waits until the certificate has status and returns it.
func waitStatus(t *testing.T, c *control, name string, status edgeplanev1.CertificateStatus, timeout time.Duration) *edgeplanev1.Certificate {
	t.Helper()
	var got *edgeplanev1.Certificate
	eventually(t, timeout, func() error {
		res, err := c.Certs().GetCertificate(t.Context(), &edgeplanev1.GetCertificateRequest{Name: name})
		if err != nil {
			return err
		}
		got = res.GetCertificate()
		if got.GetStatus() != status {
			return fmt.Errorf("certificate %s: got %v (last_error %q), want %v", name, got.GetStatus(), got.GetLastError(), status)
		}
		return nil
	})
	return got
}

// waitSettled waits until certificate name is READY and not due again (no issuance left to
// start) and no replica holds its issuance lock (none in flight): any second issuance would
// have finished.
func waitSettled(t *testing.T, c *control, rdb *redis.Client, name string) {
	t.Helper()
	eventually(t, 30*time.Second, func() error {
		res, err := c.Certs().GetCertificate(t.Context(), &edgeplanev1.GetCertificateRequest{Name: name})
		if err != nil {
			return err
		}
		cert := res.GetCertificate()
		if cert.GetStatus() != edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY || !cert.GetRenewTime().AsTime().After(time.Now()) {
			return fmt.Errorf("certificate %s: got %v renewing at %v, want READY and not due", name, cert.GetStatus(), cert.GetRenewTime().AsTime())
		}
		if n, err := rdb.Exists(t.Context(), keyspace.New("").CertificateLock(name)).Result(); err != nil || n != 0 {
			return fmt.Errorf("certificate %s: issuance lock held (%v)", name, err)
		}
		return nil
	})
}

func acmeRoute(name, target string, hosts ...string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: hosts, Targets: []*edgeplanev1.Target{{Url: target}},
		Tls: &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_ACME}}
}

func TestACME_RouteCertificateIsServedOverHTTPSAndKeysAreSealed(t *testing.T) {
	site := newACMESite(t, 0, 0)
	cp := startControl(t, site.rds.URL(), "cp-1", site.flags...)
	ag := site.startAgent(t, cp.Addr, "edge-1")
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })

	create(t, cp, acmeRoute("shop", backend(t, "shop"), "shop.example.test", "www.shop.example.test"))
	c := waitStatus(t, cp, "acme-shop", edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY, 30*time.Second)
	if c.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME || len(c.GetPrivateKeyPem()) > 0 {
		t.Errorf("certificate: got source %v and %d key bytes, want ACME and no key", c.GetSource(), len(c.GetPrivateKeyPem()))
	}
	roots := site.ca.Roots()
	for _, host := range []string{"shop.example.test", "www.shop.example.test"} {
		eventually(t, 10*time.Second, func() error {
			res, err := ag.client(roots).Get("https://" + host + "/cart")
			if err != nil {
				return err
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != http.StatusOK || string(body) != "shop /cart" {
				return fmt.Errorf("https://%s/cart: got %d %q", host, res.StatusCode, body)
			}
			return nil
		})
	}
	if n := len(cp.Logs("certificate ready")); n != 1 {
		t.Errorf("got %d certificate_ready events, want 1", n)
	}
	assertNoPlaintextKeys(t, site.rds.Addr)
}

// assertNoPlaintextKeys reads every key in Redis and fails if a value holds a PEM private key
// or the DER header of an EC P-256 private key.
func assertNoPlaintextKeys(t *testing.T, addr string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	var dump bytes.Buffer
	for _, k := range keys {
		switch typ := rdb.Type(ctx, k).Val(); typ {
		case "string":
			dump.WriteString(rdb.Get(ctx, k).Val())
		case "hash":
			for f, v := range rdb.HGetAll(ctx, k).Val() {
				dump.WriteString(f + v)
			}
		case "stream":
			for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
				fmt.Fprint(&dump, m.Values)
			}
		case "zset":
			fmt.Fprint(&dump, rdb.ZRange(ctx, k, 0, -1).Val())
		case "set":
			fmt.Fprint(&dump, rdb.SMembers(ctx, k).Val())
		case "list":
			fmt.Fprint(&dump, rdb.LRange(ctx, k, 0, -1).Val())
		}
	}
	for _, bad := range [][]byte{[]byte("PRIVATE KEY"), {0x30, 0x77, 0x02, 0x01, 0x01, 0x04, 0x20}} {
		if bytes.Contains(dump.Bytes(), bad) {
			t.Errorf("a Redis value holds %q: a private key in plaintext", bad)
		}
	}
	if !bytes.Contains(dump.Bytes(), []byte("ep2:")) {
		t.Errorf("no sealed value in %d keys: was the certificate stored?", len(keys))
	}
}

func TestACME_ShortLivedCertificateIsRenewedUnaskedWithoutDroppingConnections(t *testing.T) {
	site := newACMESite(t, 9*time.Second, 0)
	cp := startControl(t, site.rds.URL(), "cp-1", site.flags...)
	ag := site.startAgent(t, cp.Addr, "edge-1")
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	host := "brief.example.test"
	create(t, cp, acmeRoute("brief", backend(t, "brief"), host))
	first := waitStatus(t, cp, "acme-brief", edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY, 30*time.Second)
	roots := site.ca.Roots()

	// One keep-alive connection sends requests all along; none may fail.
	client := ag.client(roots)
	client.Transport.(*http.Transport).TLSClientConfig.ServerName = host
	var sent, failed atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			sent.Add(1)
			res, err := client.Get("https://" + host + "/")
			if err == nil {
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
			}
			if err != nil || res.StatusCode != http.StatusOK {
				failed.Add(1)
				t.Logf("request during renewal failed: %v (response %v)", err, res)
			}
		}
	}()
	eventually(t, 30*time.Second, func() error {
		serial, err := ag.servedSerial(host, roots)
		if err != nil {
			return err
		}
		if serial == first.GetSerialNumber() {
			return fmt.Errorf("agent still serves serial %s", serial)
		}
		return nil
	})
	close(stop)
	<-done
	if failed.Load() > 0 || sent.Load() < 10 {
		t.Errorf("during renewal: %d of %d requests failed, want none of at least 10", failed.Load(), sent.Load())
	}
	res, err := cp.Certs().GetCertificate(t.Context(), &edgeplanev1.GetCertificateRequest{Name: "acme-brief"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.GetCertificate().GetNotAfter().AsTime().After(first.GetNotAfter().AsTime()) {
		t.Errorf("after renewal not_after %s, before %s: want later", res.GetCertificate().GetNotAfter().AsTime(), first.GetNotAfter().AsTime())
	}
}

func TestACME_ChallengeNobodyServesFailsClearlyAndIsRetried(t *testing.T) {
	_, closed, _ := net.SplitHostPort(freeAddr(t)) // Pebble validates against a port nobody listens on
	port, _ := strconv.Atoi(closed)
	site := newACMESite(t, 0, port)
	cp := startControl(t, site.rds.URL(), "cp-1", site.flags...)
	site.startAgent(t, cp.Addr, "edge-1")
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })

	_, err := cp.Certs().CreateCertificate(t.Context(), &edgeplanev1.CreateCertificateRequest{
		Certificate: &edgeplanev1.Certificate{Name: "dark", Domains: []string{"dark.example.test"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := waitStatus(t, cp, "dark", edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_FAILED, 30*time.Second)
	if !strings.Contains(c.GetLastError(), "dark.example.test") || !strings.Contains(c.GetLastError(), "onnection refused") {
		t.Errorf("last_error: got %q, want the domain and the CA's reason (connection refused)", c.GetLastError())
	}
	eventually(t, 30*time.Second, func() error {
		res, err := cp.Certs().GetCertificate(t.Context(), &edgeplanev1.GetCertificateRequest{Name: "dark"})
		if err != nil {
			return err
		}
		if n := res.GetCertificate().GetFailureCount(); n < 3 {
			return fmt.Errorf("failure_count %d, want 3 retries", n)
		}
		return nil
	})
	// The failure is counted in Redis before its log line is written: wait for the line.
	eventually(t, 10*time.Second, func() error {
		if n := len(cp.Logs("certificate failed")); n < 3 {
			return fmt.Errorf("got %d certificate_failed events, want one per attempt (>= 3)", n)
		}
		return nil
	})
}

func TestACME_TwoReplicasIssueEachCertificateOnce(t *testing.T) {
	site := newACMESite(t, 0, 0)
	cp1 := startControl(t, site.rds.URL(), "cp-1", site.flags...)
	cp2 := startControl(t, site.rds.URL(), "cp-2", site.flags...)
	site.startAgent(t, cp1.Addr, "edge-1")
	eventually(t, 10*time.Second, func() error { return connected(t, cp2, 1) })

	target := backend(t, "x")
	names := []string{"one", "two", "three"}
	for _, n := range names {
		create(t, cp2, acmeRoute(n, target, n+".example.test"))
	}
	rdb := redis.NewClient(&redis.Options{Addr: site.rds.Addr})
	defer rdb.Close()
	for _, n := range names {
		waitSettled(t, cp1, rdb, "acme-"+n)
	}
	if got := site.ca.Issued(); got != len(names) {
		t.Errorf("pebble issued %d certificates for %d routes, want one each", got, len(names))
	}
	eventually(t, 10*time.Second, func() error { // the replicas' log lines are read asynchronously
		if got := len(cp1.Logs("certificate ready")) + len(cp2.Logs("certificate ready")); got < len(names) {
			return fmt.Errorf("got %d certificate_ready log lines, want %d", got, len(names))
		}
		return nil
	})
	if got := len(cp1.Logs("certificate ready")) + len(cp2.Logs("certificate ready")); got != len(names) {
		t.Errorf("got %d certificate_ready events across replicas, want %d", got, len(names))
	}
}
