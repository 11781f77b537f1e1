package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The README's ApplyConfig examples, with the real grpcurl: a dry run lists the changes
// and stores nothing, the apply stores them at one revision, bad input names the field.
func TestGrpcurl_ApplyConfig(t *testing.T) {
	bin := grpcurlPath(t)
	cp := startControl(t, redistest.New(t).URL(), "cp-1")
	run := func(body string) (string, error) {
		out, err := exec.Command(bin, "-plaintext", "-d", body, cp.Addr, "edgeplane.v1.ConfigService/ApplyConfig").CombinedOutput()
		return string(out), err
	}
	set := `"routes": [
    {"name": "web", "hosts": ["web.example.com"], "targets": [{"url": "http://10.0.0.5:8080"}], "labels": {"team": "web"}},
    {"name": "api", "hosts": ["api.example.com"], "pathPrefix": "/v1", "targets": [{"url": "http://10.0.0.6:8080"}], "labels": {"team": "web"}}
  ], "prune": true, "selector": {"team": "web"}`
	out, err := run(`{` + set + `, "dryRun": true}`)
	if err != nil || strings.Count(out, "CONFIG_ACTION_CREATED") != 2 || !strings.Contains(out, `"dryRun": true`) {
		t.Fatalf("dry run: got %v\n%s\nwant two CREATED changes", err, out)
	}
	if rev := storeRevision(t, cp); rev != 0 {
		t.Errorf("revision after a dry run: got %d, want 0", rev)
	}
	out, err = run(`{` + set + `}`)
	if err != nil || !strings.Contains(out, `"revision": "1"`) {
		t.Fatalf("apply: got %v\n%s\nwant revision 1", err, out)
	}
	out, err = run(`{"routes": [{"name": "x", "hosts": ["Bad"], "targets": [{"url": "http://127.0.0.1:1"}]}]}`)
	if err == nil || !strings.Contains(out, "InvalidArgument") || !strings.Contains(out, `"field": "routes[0].hosts[0]"`) {
		t.Errorf("bad input: got %v\n%s\nwant InvalidArgument naming routes[0].hosts[0]", err, out)
	}
}
