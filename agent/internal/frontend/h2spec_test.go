package frontend

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// h2specPath finds the pinned h2spec binary (.ci/tools.sh installs it). It fails rather than
// skips: the README promises 145/145.
func h2specPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	for _, env := range []string{"GOBIN", "GOPATH"} {
		out, _ := exec.Command("go", "env", env).Output()
		dir := strings.TrimSpace(string(out))
		if env == "GOPATH" {
			dir = filepath.Join(dir, "bin")
		}
		if p := filepath.Join(dir, "h2spec"); dir != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("h2spec is not installed: run `make deps` (.ci/tools.sh installs it)")
	return ""
}

// h2specSummary is h2spec's last line, e.g. "145 tests, 145 passed, 0 skipped, 0 failed".
var h2specSummary = regexp.MustCompile(`(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed`)

// The agent's HTTP/2 over TLS passes every h2spec case (RFC 7540/9113 and HPACK). The
// backend's body is long enough that no case is skipped (some need 5 bytes of DATA).
func TestServer_H2spec(t *testing.T) {
	bin := h2specPath(t)
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "hello from the backend")
	}))
	t.Cleanup(be.Close)
	s := start(t, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("any", "127.0.0.1", be.URL)}})
	_, port, _ := net.SplitHostPort(s.HTTPSAddr())
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "--tls", "--insecure", "--host", "127.0.0.1", "--port", port).CombinedOutput()
	m := h2specSummary.FindStringSubmatch(string(out))
	if err != nil || m == nil || m[1] != "145" || m[2] != "145" {
		t.Fatalf("h2spec: %v; want 145 tests, 145 passed; output:\n%s", err, failures(out))
	}
	t.Log(m[0])
}

// failures returns h2spec's output from its "Failures:" section on (all of it if none).
func failures(out []byte) string {
	s := string(out)
	if i := strings.Index(s, "Failures:"); i >= 0 {
		return s[i:]
	}
	return s
}
