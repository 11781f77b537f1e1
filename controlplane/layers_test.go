package main

import (
	"os/exec"
	"strings"
	"testing"
)

// layers are the control plane's packages from the bottom up (controlplane/ARCHITECTURE.md):
// a package imports only packages of lower layers. A package missing here counts as a
// feature (layer 4).
var layers = [][]string{
	{"model", "secrets", "event", "gcfloor"},
	{"store", "streams", "page"},
	{"state", "telemetry", "metrics"},
	{"certs", "ports", "auth"},
	{"routing", "docker", "fanout", "alerts", "pki"},
	{"apply"},
	{"api", "dashboard"},
	{"app"},
}

const internal = "github.com/edgeplane/edgeplane/controlplane/internal/"

func layerOf(pkg string) int {
	for i, l := range layers {
		for _, p := range l {
			if p == pkg {
				return i
			}
		}
	}
	return 4
}

// TestLayers keeps the dependency direction of ARCHITECTURE.md: no package imports one of
// its own layer or above.
func TestLayers(t *testing.T) {
	out, err := exec.CommandContext(t.Context(), "go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`,
		"github.com/edgeplane/edgeplane/controlplane/internal/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		from := strings.TrimPrefix(f[0], internal)
		for _, imp := range f[1:] {
			to, ok := strings.CutPrefix(imp, internal)
			if ok && layerOf(to) >= layerOf(from) {
				t.Errorf("%s (layer %d) imports %s (layer %d): only lower layers may be imported", from, layerOf(from), to, layerOf(to))
			}
		}
	}
}
