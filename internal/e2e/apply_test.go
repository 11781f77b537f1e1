package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// cli runs the edgeplane CLI binary against one control plane.
type cli struct {
	t    *testing.T
	bin  string
	addr string // EDGEPLANE_ADDRESS; empty: the contexts file's
	home string // holds the contexts file (none unless a test writes one), so the caller's own is never read
}

func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "edgeplane")
	cmd := exec.Command("go", "build", "-o", bin, "../../controlplane/cli")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("building the CLI: %v", err)
	}
	return bin
}

// run returns the CLI's stdout, stderr and exit code.
func (c *cli) run(args ...string) (string, string, int) {
	c.t.Helper()
	cmd := exec.Command(c.bin, args...)
	cmd.Env = append(os.Environ(), "EDGEPLANE_ADDRESS="+c.addr, "EDGEPLANE_CONFIG="+filepath.Join(c.home, "config.yaml"),
		"EDGEPLANE_TOKEN=", "EDGEPLANE_CONTEXT=", "EDGEPLANE_CA_PIN=", "EDGEPLANE_CA_FILE=", "EDGEPLANE_INSECURE=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running edgeplane %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

// mustRun runs the CLI and fails the test unless it exits 0.
func (c *cli) mustRun(args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(args...)
	if code != 0 {
		c.t.Fatalf("edgeplane %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

// writeRoutes writes routes r00..r(n-1) as YAML, five per file, plus every seventh one as
// a JSON file, with backend target (changed: the names whose routes point at changedTarget).
func writeRoutes(t *testing.T, dir string, n int, target func(i int) string, skip func(i int) bool) {
	t.Helper()
	files := map[string]*strings.Builder{}
	for i := range n {
		if skip(i) {
			continue
		}
		name := fmt.Sprintf("r%02d", i)
		if i%7 == 0 {
			body := fmt.Sprintf(`{"kind": "Route", "name": %q, "hosts": ["%s.test"], "targets": [{"url": %q}], "labels": {"team": "e2e"}}`,
				name, name, target(i))
			if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o600); err != nil {
				t.Fatal(err)
			}
			continue
		}
		file := fmt.Sprintf("routes-%d.yaml", i/5)
		b := files[file]
		if b == nil {
			b = &strings.Builder{}
			files[file] = b
		} else {
			b.WriteString("---\n")
		}
		fmt.Fprintf(b, "kind: Route\nname: %s\nhosts: [%s.test]\npriority: %d\ntargets:\n  - url: %s\nlabels:\n  team: e2e\n", name, name, i, target(i))
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

var appliedRev = regexp.MustCompile(`applied at revision (\d+)`)

func revisionOf(t *testing.T, out string) int64 {
	t.Helper()
	m := appliedRev.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no revision in apply's output:\n%s", out)
	}
	rev, _ := strconv.ParseInt(m[1], 10, 64)
	return rev
}

// storeRevision is the control plane's current config revision.
func storeRevision(t *testing.T, cp *control) int64 {
	t.Helper()
	res, err := cp.Routes().ListRoutes(t.Context(), &edgeplanev1.ListRoutesRequest{PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	return res.GetRevision()
}

// appliedRevisions lists the revisions an agent logged as applied, in order.
func appliedRevisions(a *agent) []int64 {
	var out []int64
	for _, l := range a.Logs("config applied") {
		if f, ok := l["revision"].(float64); ok {
			out = append(out, int64(f))
		}
	}
	return out
}

// The Done-when: a 50-route directory applied with the real CLI; ten routes changed
// and five deleted in one apply reach every agent as one revision; --dry-run and a bad file
// change nothing; export then apply on an empty cluster recreates the same config.
func TestApply_DirectoryOneRevisionDryRunBadFileExport(t *testing.T) {
	bin := buildCLI(t)
	cp := startControl(t, redistest.New(t).URL(), "cp-1")
	agents := []*agent{startAgent(t, cp.Addr, "edge-1", t.TempDir()), startAgent(t, cp.Addr, "edge-2", t.TempDir())}
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 2) })
	a, b := backend(t, "A"), backend(t, "B")
	c := &cli{t: t, bin: bin, addr: cp.Addr, home: t.TempDir()}
	dir := t.TempDir()
	none := func(int) bool { return false }

	writeRoutes(t, dir, 50, func(int) string { return a }, none)
	out := c.mustRun("apply", "-f", dir, "--wait", "20s")
	if !strings.Contains(out, "50 created, 0 changed, 0 deleted, 0 unchanged") {
		t.Fatalf("first apply: got\n%s\nwant 50 created", out)
	}
	r1 := revisionOf(t, out)
	for _, ag := range agents {
		ag.expectServes("r49.test", "/", http.StatusOK, "A /")
	}

	changed := func(i int) bool { return i >= 10 && i < 20 }
	deleted := func(i int) bool { return i >= 45 }
	next := t.TempDir()
	writeRoutes(t, next, 50, func(i int) string {
		if changed(i) {
			return b
		}
		return a
	}, deleted)

	t.Run("dry run stores nothing", func(t *testing.T) {
		out := c.mustRun("apply", "-f", next, "--prune", "-l", "team=e2e", "--dry-run")
		if !strings.Contains(out, "0 created, 10 changed, 5 deleted, 35 unchanged") || !strings.Contains(out, "~ route/r10 changed: targets") {
			t.Errorf("dry run: got\n%s\nwant 10 changed (targets) and 5 deleted", out)
		}
		if rev := storeRevision(t, cp); rev != r1 {
			t.Errorf("revision after a dry run: got %d, want %d", rev, r1)
		}
		agents[0].expectServes("r10.test", "/", http.StatusOK, "A /")
	})

	t.Run("a bad file stores nothing and is named", func(t *testing.T) {
		bad := filepath.Join(next, "zz-bad.yaml")
		if err := os.WriteFile(bad, []byte("kind: Route\nname: broken\nhosts: [\"Not A Host\"]\ntargets: [{url: \"http://127.0.0.1:1\"}]\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(bad)
		out, errOut, code := c.run("apply", "-f", next, "--prune", "-l", "team=e2e")
		if code == 0 || !strings.Contains(errOut, "zz-bad.yaml#1") || !strings.Contains(errOut, `route "broken": hosts[0]`) {
			t.Errorf("bad file: got exit %d\nstdout: %s\nstderr: %s\nwant a failure naming zz-bad.yaml#1 and hosts[0]", code, out, errOut)
		}
		if rev := storeRevision(t, cp); rev != r1 {
			t.Errorf("revision after a refused apply: got %d, want %d", rev, r1)
		}
	})

	out = c.mustRun("apply", "-f", next, "--prune", "-l", "team=e2e", "--wait", "20s")
	r2 := revisionOf(t, out)
	if r2 != r1+1 {
		t.Errorf("ten changes and five deletions: got revision %d after %d, want one revision (%d)", r2, r1, r1+1)
	}
	hashes := map[string]bool{}
	for _, ag := range agents {
		ag.expectServes("r10.test", "/", http.StatusOK, "B /")
		ag.expectServes("r09.test", "/", http.StatusOK, "A /")
		ag.expectServes("r45.test", "/", http.StatusNotFound, "no route")
		revs := appliedRevisions(ag)
		var after []int64
		for _, r := range revs {
			if r > r1 {
				after = append(after, r)
			}
		}
		if len(after) != 1 || after[0] != r2 {
			t.Errorf("%s applied revisions %v: after %d want exactly [%d] (old to new in one step)", ag.Node, revs, r1, r2)
		}
		for _, l := range ag.Logs("config applied") {
			if f, _ := l["revision"].(float64); int64(f) == r2 {
				hashes[fmt.Sprint(l["config_hash"])] = true
			}
		}
	}
	if len(hashes) != 1 {
		t.Errorf("config hashes at revision %d: got %v, want one shared by every agent", r2, hashes)
	}

	t.Run("export then apply on an empty cluster", func(t *testing.T) {
		exported := c.mustRun("export")
		if n := strings.Count(exported, "kind: Route"); n != 45 {
			t.Fatalf("export: got %d routes, want 45", n)
		}
		file := filepath.Join(t.TempDir(), "export.yaml")
		if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
			t.Fatal(err)
		}
		cp2 := startControl(t, redistest.New(t).URL(), "cp-2")
		c2 := &cli{t: t, bin: bin, addr: cp2.Addr, home: t.TempDir()}
		out := c2.mustRun("apply", "-f", file)
		if !strings.Contains(out, "45 created") {
			t.Errorf("apply of the export: got\n%s\nwant 45 created", out)
		}
		if again := c2.mustRun("export"); again != exported {
			t.Errorf("export of the new cluster differs from the old one's:\n--- old\n%s\n--- new\n%s", exported, again)
		}
		if diff := c.mustRun("diff", "-f", file); !strings.Contains(diff, "0 created, 0 changed, 0 deleted, 45 unchanged") {
			t.Errorf("diff of the export against its own cluster: got\n%s\nwant 45 unchanged", diff)
		}
	})
}
