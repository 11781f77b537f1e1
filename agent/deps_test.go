package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the agent thin: it must not link the Docker or ACME clients. (It does link
// go-redis, on purpose: it writes its request records straight to Redis Streams.)
func TestDeps(t *testing.T) {
	forbidden := []string{
		"github.com/moby/moby",
		"github.com/docker/docker",
		"golang.org/x/crypto/acme",
	}
	out, err := exec.CommandContext(t.Context(), "go", "list", "-deps", "github.com/edgeplane/edgeplane/agent").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if pkg == f || strings.HasPrefix(pkg, f+"/") {
				t.Errorf("the agent depends on %s (forbidden prefix %s)", pkg, f)
			}
		}
	}
}
