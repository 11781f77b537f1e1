package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The README's Go example pushes a route and waits for the fleet.
func TestExample_PushRouteWaitsForAgents(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	be := backend(t, "A")
	for range 2 { // the second run replaces the route
		out, err := exec.Command("go", "run", "../../controlplane/examples/pushroute",
			"-addr", cp.Addr, "-name", "hello", "-host", "hello.test", "-target", be).CombinedOutput()
		if err != nil {
			t.Fatalf("pushroute: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "1 agents serve it") {
			t.Errorf("pushroute: got %q, want the one agent to serve it", out)
		}
	}
	ag.expectServes("hello.test", "/", 200, "A /")
}
