package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The CLI against a TLS control plane: a context (address, CA pin, operator token) from the
// contexts file applies a directory; a viewer token (EDGEPLANE_TOKEN) may read but not
// apply; declaring a service needs the admin role; a wrong pin is refused.
func TestCLI_ContextWithPinAndTokens(t *testing.T) {
	rds := redistest.New(t)
	cp, pin := startControlTLS(t, rds.URL(), "cp-1")
	c := &cli{t: t, bin: buildCLI(t), addr: "", home: t.TempDir()}
	operator, viewer := tokenCreate(t, rds.URL(), "operator"), tokenCreate(t, rds.URL(), "viewer")
	conf := fmt.Sprintf("current-context: prod\ncontexts:\n  - name: prod\n    address: %s\n    ca-pin: %s\n    token: %s\n", cp.Addr, pin, operator)
	if err := os.WriteFile(filepath.Join(c.home, "config.yaml"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeRoutes(t, dir, 3, func(int) string { return "http://127.0.0.1:9" }, func(int) bool { return false })

	if out := c.mustRun("apply", "-f", dir, "--wait", "0"); !strings.Contains(out, "3 created") {
		t.Errorf("apply with the context's operator token: got\n%s\nwant 3 created", out)
	}
	if out := c.mustRun("--token", viewer, "get", "routes"); !strings.Contains(out, "r02") {
		t.Errorf("get routes as a viewer: got\n%s\nwant r02 listed", out)
	}
	_, errOut, code := c.run("--token", viewer, "apply", "-f", dir)
	if code == 0 || !strings.Contains(errOut, "PermissionDenied") {
		t.Errorf("apply as a viewer: got exit %d, stderr %q; want PermissionDenied", code, errOut)
	}
	svc := filepath.Join(t.TempDir(), "svc.yaml")
	if err := os.WriteFile(svc, []byte("kind: Service\nname: web\nimage: busybox:1\ncontainerPort: 8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = c.run("apply", "-f", svc)
	if code == 0 || !strings.Contains(errOut, "PermissionDenied") {
		t.Errorf("operator declaring a service: got exit %d, stderr %q; want PermissionDenied", code, errOut)
	}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if _, errOut, code := c.run("--ca-pin", wrong, "get", "routes"); code == 0 {
		t.Errorf("a wrong CA pin: got exit 0, want a refusal (stderr %q)", errOut)
	}
}
