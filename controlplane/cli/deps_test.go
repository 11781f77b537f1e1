package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps_OnlyTheAPI: the CLI is a client of the gRPC API: it must not link the control
// plane's own packages (nor the Redis client), so it can talk to any compatible server.
func TestDeps_OnlyTheAPI(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "github.com/edgeplane/edgeplane/controlplane/cli").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/edgeplane/edgeplane/controlplane/internal") || strings.HasPrefix(pkg, "github.com/redis/") {
			t.Errorf("the CLI depends on %s; it may use gen/ and small shared packages only", pkg)
		}
	}
}
