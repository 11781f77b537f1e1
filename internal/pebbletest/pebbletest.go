// Package pebbletest runs Let's Encrypt's test ACME server, Pebble, for tests: a real CA that
// validates HTTP-01 challenges by connecting to a port the test chooses, with
// pebble-challtestsrv as its DNS server (every name resolves to 127.0.0.1).
//
//	ca := pebbletest.Start(t, pebbletest.Config{HTTPPort: agentPort})
//	// ca.Directory, ca.CAFile (trust it to talk to the CA), ca.Roots() (verify issued certs)
//
// The binaries "pebble" and "pebble-challtestsrv" are looked up in PATH, then in
// $GOBIN, $GOPATH/bin and ~/go/bin (where `make deps` installs them). A missing binary fails
// the test; it is never skipped.
package pebbletest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config configures a CA.
type Config struct {
	// HTTPPort is where the CA connects to validate HTTP-01 challenges (on 127.0.0.1).
	// Required.
	HTTPPort int
	// Validity is the lifetime of issued certificates. Default 90 days. Whole seconds.
	Validity time.Duration
}

// CA is a running Pebble.
type CA struct {
	// Directory is the ACME directory URL.
	Directory string
	// CAFile is a PEM file with the root of the CA's own HTTPS certificate.
	CAFile string

	t      testing.TB
	mgmt   string
	client *http.Client
	logMu  sync.Mutex
	logBuf *strings.Builder
}

// Start runs pebble-challtestsrv and Pebble and returns once the directory answers.
func Start(t testing.TB, cfg Config) *CA {
	t.Helper()
	dir := t.TempDir()
	caPEM, certFile, keyFile := serverCert(t, dir)
	ca := &CA{t: t, CAFile: filepath.Join(dir, "ca.pem"), logBuf: &strings.Builder{}}
	if err := os.WriteFile(ca.CAFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	ca.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	dns := freeAddr(t)
	ca.run(lookBin(t, "pebble-challtestsrv"), nil, "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "", "-dnsserver", dns, "-management", freeAddr(t))

	listen, mgmt := freeAddr(t), freeAddr(t)
	ca.mgmt = mgmt
	validity := cfg.Validity
	if validity <= 0 {
		validity = 90 * 24 * time.Hour
	}
	var pc struct {
		Pebble map[string]any `json:"pebble"`
	}
	pc.Pebble = map[string]any{
		"listenAddress": listen, "managementListenAddress": mgmt,
		"certificate": certFile, "privateKey": keyFile,
		"httpPort": cfg.HTTPPort, "tlsPort": freePort(t),
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       map[string]any{"default": map[string]any{"description": "test", "validityPeriod": int(validity / time.Second)}},
	}
	conf := filepath.Join(dir, "pebble.json")
	b, _ := json.Marshal(pc)
	if err := os.WriteFile(conf, b, 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0"}
	ca.run(lookBin(t, "pebble"), env, "-config", conf, "-dnsserver", dns)
	ca.Directory = "https://" + listen + "/dir"
	ca.waitUp()
	return ca
}

// Roots returns the pool of the root the CA issues certificates under.
func (ca *CA) Roots() *x509.CertPool {
	ca.t.Helper()
	res, err := ca.client.Get("https://" + ca.mgmt + "/roots/0")
	if err != nil {
		ca.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		ca.t.Fatalf("pebble /roots/0: no PEM root in %q", b)
	}
	return pool
}

// Log returns what Pebble has printed so far.
func (ca *CA) Log() string {
	ca.logMu.Lock()
	defer ca.logMu.Unlock()
	return ca.logBuf.String()
}

// Issued counts the certificates Pebble has issued so far.
func (ca *CA) Issued() int { return strings.Count(ca.Log(), "Issued certificate serial") }

func (ca *CA) waitUp() {
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := ca.client.Get(ca.Directory)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			ca.t.Fatalf("pebble did not answer at %s: %v\n%s", ca.Directory, err, ca.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run starts bin, kills it at cleanup, and keeps its output.
func (ca *CA) run(bin string, env []string, args ...string) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	w := &logWriter{ca: ca}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		ca.t.Fatalf("starting %s: %v", bin, err)
	}
	ca.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
}

type logWriter struct{ ca *CA }

func (w *logWriter) Write(p []byte) (int, error) {
	w.ca.logMu.Lock()
	defer w.ca.logMu.Unlock()
	return w.ca.logBuf.Write(p)
}

func lookBin(t testing.TB, name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	home, _ := os.UserHomeDir()
	for _, dir := range []string{os.Getenv("GOBIN"), filepath.Join(os.Getenv("GOPATH"), "bin"), filepath.Join(home, "go", "bin")} {
		if p := filepath.Join(dir, name); dir != "" && isExec(p) {
			return p
		}
	}
	t.Fatalf("%s not found in PATH, $GOBIN, $GOPATH/bin or ~/go/bin: run `make deps` (.ci/tools.sh installs it)", name)
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// serverCert makes a CA and a certificate for 127.0.0.1/localhost signed by it, for
// Pebble's own HTTPS listeners. It returns the CA's PEM and the files of the certificate.
func serverCert(t testing.TB, dir string) ([]byte, string, string) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pebbletest CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caTmpl, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for f, b := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(f, pem.EncodeToMemory(b), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), certFile, keyFile
}

func freeAddr(t testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func freePort(t testing.TB) int {
	_, p, _ := net.SplitHostPort(freeAddr(t))
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}
