package dashboard_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// agentBin is the real agent, built once by TestMain.
var agentBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeplane-dashboard-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	agentBin = filepath.Join(dir, "edgeplane-agent")
	cmd := exec.Command("go", "build", "-o", agentBin, "../../../agent")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building the agent:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// control is a control plane running in this process on a real redis-server.
type control struct {
	*app.App
	RedisURL, Namespace string
	conn                *grpc.ClientConn
	token               string // the admin token gRPC calls carry ("" with auth off)
}

var namespaces atomic.Int64

// startControl runs a control plane on rds until the test ends. secure: TLS and tokens
// (as in production); otherwise --insecure. ns, when given, is its namespace.
func startControl(t *testing.T, rds *redistest.Server, secure bool, ns ...string) *control {
	t.Helper()
	if len(ns) == 0 {
		ns = []string{fmt.Sprintf("dash%d", namespaces.Add(1))}
	}
	return startControlIn(t, rds, secure, ns[0])
}

func startControlIn(t *testing.T, rds *redistest.Server, secure bool, ns string) *control {
	t.Helper()
	cfg := app.Config{RedisURL: rds.URL(), Namespace: ns, GRPCAddr: "127.0.0.1:0", HTTPAddr: "127.0.0.1:0",
		Insecure: !secure, AgentRedisURL: rds.URL(), Heartbeat: 200 * time.Millisecond, ShutdownTimeout: 2 * time.Second, StreamNamespace: ns + ":"}
	if secure {
		key := filepath.Join(t.TempDir(), "key")
		if err := os.WriteFile(key, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg.SecretsKeyFile = key
	}
	a, err := app.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("control plane Run: %v", err)
		}
	})
	c := &control{App: a, RedisURL: rds.URL(), Namespace: ns}
	eventually(t, 20*time.Second, func() error { return c.ready() })
	if secure {
		c.token = c.newToken(t, "test-admin", "admin")
	}
	c.conn = c.dial(t)
	return c
}

func (c *control) ready() error {
	res, err := http.Get("http://" + c.HTTPAddr() + "/readyz")
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: got %d, want 200", res.StatusCode)
	}
	return nil
}

// URL is the dashboard URL of path (e.g. "fleet").
func (c *control) URL(path string) string { return c.DashboardURL() + path }

// newToken makes an API token with role, as `edgeplane-control token create` does.
func (c *control) newToken(t *testing.T, name, role string) string {
	t.Helper()
	admin, closeAdmin, err := app.OpenTokenAdmin(c.RedisURL, c.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAdmin()
	_, secret, err := admin.Create(t.Context(), name, role, 0)
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

// dial connects a gRPC client as grpcurl would: TLS against the CA from /ca.pem when secure.
func (c *control) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	creds := insecure.NewCredentials()
	if c.token != "" {
		res, err := http.Get("http://" + c.HTTPAddr() + "/ca.pem")
		if err != nil {
			t.Fatal(err)
		}
		pem, _ := io.ReadAll(res.Body)
		res.Body.Close()
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			t.Fatalf("/ca.pem: got %q, want a PEM certificate", pem)
		}
		creds = credentials.NewTLS(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
	}
	conn, err := grpc.NewClient(c.GRPCAddr(), grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// ctx carries the admin token.
func (c *control) ctx(t *testing.T) context.Context {
	if c.token == "" {
		return t.Context()
	}
	return metadata.AppendToOutgoingContext(t.Context(), "authorization", "Bearer "+c.token)
}

func (c *control) Routes() edgeplanev1.RoutingServiceClient {
	return edgeplanev1.NewRoutingServiceClient(c.conn)
}
func (c *control) Certs() edgeplanev1.CertificateServiceClient {
	return edgeplanev1.NewCertificateServiceClient(c.conn)
}
func (c *control) Fleet() edgeplanev1.FleetServiceClient {
	return edgeplanev1.NewFleetServiceClient(c.conn)
}

// createRoute creates a route to target and returns it.
func (c *control) createRoute(t *testing.T, name, host, target string) *edgeplanev1.CreateRouteResponse {
	t.Helper()
	res, err := c.Routes().CreateRoute(c.ctx(t), &edgeplanev1.CreateRouteRequest{
		Route: &edgeplanev1.Route{Name: name, Hosts: []string{host}, Targets: []*edgeplanev1.Target{{Url: target}}}})
	if err != nil {
		t.Fatalf("CreateRoute %s: %v", name, err)
	}
	return res
}

// startAgent runs the real agent binary against c (insecure control planes only) until the
// test ends, and returns its proxy address.
func startAgent(t *testing.T, c *control, node string, extra ...string) string {
	t.Helper()
	addr := freeAddr(t)
	args := append([]string{"--control-plane", c.GRPCAddr(), "--node-id", node, "--http-addr", addr,
		"--https-addr", freeAddr(t), "--metrics-addr", freeAddr(t), "--cache-dir", t.TempDir(),
		"--labels", "zone=test"}, extra...)
	cmd := exec.Command(agentBin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if testing.Verbose() {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return addr
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// eventually retries fn until it succeeds or timeout passes, then fails with its last error.
func eventually(t *testing.T, timeout time.Duration, fn func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// browserless is an HTTP client with a cookie jar that does not follow redirects.
func browserless(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
