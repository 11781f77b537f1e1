package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// `make run` in miniature: --dev needs no Redis, and an agent is served through it.
func TestDevMode_RunsWithoutRedis(t *testing.T) {
	cp := startControl(t, "dev", "cp-dev")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	res := create(t, cp, route("hello", "hello.localhost", backend(t, "A")))
	if res.GetPropagation().GetAcked() != 1 {
		t.Errorf("propagation: got %v, want acked 1", res.GetPropagation())
	}
	ag.expectServes("hello.localhost", "/", http.StatusOK, "A /")
	if len(cp.Logs("DEV MODE: state lives in an embedded in-memory store and is LOST when the control plane exits; use --redis-url in production")) != 1 {
		t.Errorf("dev mode did not warn that nothing persists")
	}
}

// SIGTERM stops the control plane cleanly and quickly: streams end, the agent is recorded as
// disconnected, and it keeps serving.
func TestControlPlane_GracefulStop(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	other := startControl(t, rds.URL(), "cp-2")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))

	start := time.Now()
	cp.Stop()
	if code := cp.ExitCode(time.Second); code != 0 {
		t.Errorf("exit code after SIGTERM: got %d, want 0", code)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("graceful stop took %s, want well under the 10 s shutdown timeout", took)
	}
	got, err := other.Fleet().GetAgent(t.Context(), &edgeplanev1.GetAgentRequest{NodeId: "edge-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetAgent().GetConnected() {
		t.Errorf("after the stop: agent still recorded as connected to %s", got.GetAgent().GetReplica())
	}
	ag.expectServes("web.test", "/", http.StatusOK, "A /")
}

// --alert-rules replaces the default thresholds; a bad file stops the start with the reason.
func TestControlPlane_AlertRulesFlag(t *testing.T) {
	rds := redistest.New(t)
	dir := t.TempDir()
	good, bad := filepath.Join(dir, "good.json"), filepath.Join(dir, "bad.json")
	if err := os.WriteFile(good, []byte(`[{"kind":"error_rate","threshold":0.01,"minRequests":5}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(`[{"kind":"cpu"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	startControl(t, rds.URL(), "cp-good", "--alert-rules", good) // waits until SERVING
	out, err := exec.Command(bins.control, "--redis-url", rds.URL(), "--grpc-addr", freeAddr(t), "--http-addr", "-", "--insecure",
		"--alert-rules", bad).CombinedOutput()
	if err == nil || !strings.Contains(string(out), `kind "cpu"`) {
		t.Errorf("bad rules: got %v %s, want a failed start naming the kind", err, out)
	}
}
