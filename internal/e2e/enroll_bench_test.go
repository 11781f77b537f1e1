package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// BenchmarkEnroll_ToFirstServedRequest measures, per agent, the time from starting a new
// agent binary with a join token and the CA pin to its first request served through a route
// (enrolment, the mTLS stream, the snapshot, the proxy). Goal: under 2 s.
func BenchmarkEnroll_ToFirstServedRequest(b *testing.B) {
	rds := redistest.New(b)
	dir := b.TempDir()
	key := filepath.Join(dir, "secrets.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte("b"), 32), 0o600); err != nil {
		b.Fatal(err)
	}
	addr := benchAddr(b)
	cmd := exec.Command(bins.control, "--redis-url", rds.URL(), "--grpc-addr", addr, "--http-addr", "-",
		"--secrets-key-file", key, "--log-format", "json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pin := readPin(b, stderr)
	token := ""
	if adminToken != nil {
		token = adminToken(b, rds.URL())
	}
	conn := dialTLS(b, addr, pin, nil, token)
	routes := edgeplanev1.NewRoutingServiceClient(conn)
	_, err := routes.CreateRoute(b.Context(), &edgeplanev1.CreateRouteRequest{Route: &edgeplanev1.Route{
		Name: "web", Hosts: []string{"web.test"}, Targets: []*edgeplanev1.Target{{Url: benchBackend(b)}}}})
	if err != nil {
		b.Fatal(err)
	}
	enr := edgeplanev1.NewEnrollmentServiceClient(conn)
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		tok, err := enr.CreateJoinToken(b.Context(), &edgeplanev1.CreateJoinTokenRequest{Ttl: durationpb.New(time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		httpAddr := benchAddr(b)
		agent := exec.Command(bins.agent, "--control-plane", addr, "--node-id", fmt.Sprintf("bench-%d", i),
			"--join-token", tok.GetJoinToken(), "--ca-pin", pin, "--cache-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--http-addr", httpAddr, "--https-addr", "-", "--metrics-addr", benchAddr(b), "--log-level", "error")
		agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		b.StartTimer()
		if err := agent.Start(); err != nil {
			b.Fatal(err)
		}
		waitServed(b, httpAddr)
		b.StopTimer()
		_ = agent.Process.Kill()
		_ = agent.Wait()
		b.StartTimer()
	}
}

func benchAddr(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func readPin(b *testing.B, r interface{ Read([]byte) (int, error) }) string {
	b.Helper()
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			if p, ok := rec["ca_pin"].(string); ok {
				go func() {
					for sc.Scan() {
					}
				}()
				return p
			}
		}
	}
	b.Fatal("the control plane exited without logging its CA pin")
	return ""
}

// waitServed polls the agent until it answers 200 for web.test: polling is what is measured.
func waitServed(b *testing.B, addr string) {
	b.Helper()
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+addr+"/", nil)
		req.Host = "web.test"
		if res, err := client.Do(req); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatal("the enrolled agent served nothing within 20s")
}

func benchBackend(b *testing.B) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	b.Cleanup(srv.Close)
	return srv.URL
}
