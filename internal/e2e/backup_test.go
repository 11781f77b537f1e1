package e2e

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The state Redis is lost for good; a backup taken before is restored into a fresh Redis and
// the control plane restarted on it. The agent serves every request throughout, and the
// restored state is whole: routes (one with a control-plane-made certificate, its key sealed),
// the port lease, the admin token; writes go on from the backup's revision.
func TestBackupRestore_FreshRedisRestoredWhileAgentServes(t *testing.T) {
	rdsA := redistest.New(t)
	key := filepath.Join(t.TempDir(), "secrets.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	cp := startControl(t, rdsA.URL(), "cp-1", "--secrets-key-file", key)
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "W")))
	secure := route("secure", "secure.test", backend(t, "S"))
	secure.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_SELF_SIGNED}
	create(t, cp, secure)
	lease, err := cp.Ports().AllocatePort(t.Context(), &edgeplanev1.AllocatePortRequest{Purpose: "service", Owner: "job/1"})
	if err != nil {
		t.Fatal(err)
	}
	controlCLI(t, nil, "token", "create", "--name", "ci", "--role", "admin", "--redis-url", rdsA.URL())
	ag.expectServes("web.test", "/", http.StatusOK, "W /")

	var served, failed atomic.Int64
	stop := steadyTraffic(ag, "web.test", &served, &failed)
	backup := controlCLI(t, nil, "backup", "--redis-url", rdsA.URL())
	cp.Kill()
	rdsA.Kill() // gone for good

	rdsB := redistest.New(t)
	controlCLI(t, bytes.NewReader(backup), "restore", "--redis-url", rdsB.URL())
	setArg(cp.proc, "--redis-url", rdsB.URL())
	cp.Start()
	cp.WaitServing()
	eventually(t, 15*time.Second, func() error { return connected(t, cp, 1) })

	routes, err := cp.Routes().ListRoutes(t.Context(), &edgeplanev1.ListRoutesRequest{})
	if err != nil || len(routes.GetRoutes()) != 2 {
		t.Fatalf("routes after restore: got %v, %v; want web and secure", routes.GetRoutes(), err)
	}
	ports, err := cp.Ports().ListPorts(t.Context(), &edgeplanev1.ListPortsRequest{})
	if err != nil || len(ports.GetPorts()) != 1 || ports.GetPorts()[0].GetPort() != lease.GetPort().GetPort() {
		t.Errorf("ports after restore: got %v, %v; want the lease of port %d", ports.GetPorts(), err, lease.GetPort().GetPort())
	}
	if out := controlCLI(t, nil, "token", "list", "--redis-url", rdsB.URL()); !strings.Contains(string(out), "ci") {
		t.Errorf("tokens after restore: got %q, want ci", out)
	}
	create(t, cp, route("after", "after.test", backend(t, "A")))
	ag.expectServes("after.test", "/", http.StatusOK, "A /")
	ag.expectServes("secure.test", "/", http.StatusOK, "S /")
	stop()
	if failed.Load() != 0 || served.Load() == 0 {
		t.Errorf("requests through the agent during backup and restore: %d failed, %d served; want 0 failed", failed.Load(), served.Load())
	}
	t.Logf("%d requests served, %d failed, during the loss of Redis and the restore", served.Load(), failed.Load())
	checkMonotonic(t, ag)
}

// controlCLI runs edgeplane-control with args (stdin from in) and returns its stdout.
func controlCLI(t *testing.T, in *bytes.Reader, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bins.control, args...)
	if in != nil {
		cmd.Stdin = in
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("edgeplane-control %s: %v\n%s", args[0], err, stderr.String())
	}
	return out
}

// setArg replaces the value after flag in p's arguments, for its next Start.
func setArg(p *proc, flag, value string) {
	for i := range p.args[:len(p.args)-1] {
		if p.args[i] == flag {
			p.args[i+1] = value
		}
	}
}

// steadyTraffic sends GETs for host through a, one after the other, counting answers that
// are 200 and those that are not, until the returned stop is called.
func steadyTraffic(a *agent, host string, served, failed *atomic.Int64) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		for {
			select {
			case <-done:
				return
			default:
			}
			if code, _, err := a.Get(host, "/"); err != nil || code != http.StatusOK {
				failed.Add(1)
			} else {
				served.Add(1)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	return func() { close(done); <-exited }
}
