package deploy

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// need skips the test when tool is unavailable on a developer's machine and fails it in CI,
// where every tool the tests use must be there.
func need(t *testing.T, tool string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "" {
		t.Skipf("%s unavailable (not CI, so skipping): %v", tool, err)
	}
	t.Fatalf("%s unavailable in CI: %v", tool, err)
}

// run runs a command and fails the test with its output when it fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// requireDocker checks for the docker CLI and a reachable engine.
func requireDocker(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		need(t, "docker CLI", err)
	}
	out, err := exec.CommandContext(t.Context(), "docker", "version", "--format", "{{.Server.Version}}").CombinedOutput()
	if err != nil {
		need(t, "docker engine", &cmdError{err, out})
	}
}

type cmdError struct {
	err error
	out []byte
}

func (e *cmdError) Error() string { return e.err.Error() + ": " + string(bytes.TrimSpace(e.out)) }

func TestDockerfiles_Build(t *testing.T) {
	requireDocker(t)
	ctx := t.TempDir()
	if err := os.Mkdir(filepath.Join(ctx, "cache"), 0o755); err != nil {
		t.Fatal(err)
	}
	tag := randomTag(t)
	tests := []struct {
		dockerfile string
		binary     string
		pkg        string
		user       string
		entrypoint string
		ports      []string
		flags      []string // contract flags the binary's --help must mention
	}{
		{
			dockerfile: "Dockerfile.control", binary: "edgeplane-control", pkg: "./controlplane",
			user: "65532:65532", entrypoint: "[/edgeplane-control]",
			ports: []string{"7000/tcp", "7001/tcp"},
			flags: []string{"redis-url", "dev", "grpc-addr", "http-addr", "log-format", "log-level"},
		},
		{
			dockerfile: "Dockerfile.agent", binary: "edgeplane-agent", pkg: "./agent",
			user: "65532:65532", entrypoint: "[/edgeplane-agent]",
			ports: []string{"8080/tcp", "8443/tcp", "8081/tcp"},
			flags: []string{"control-plane", "node-id", "labels", "http-addr", "https-addr", "metrics-addr", "cache-dir"},
		},
	}
	for _, tt := range tests {
		run(t, "..", []string{"CGO_ENABLED=0"}, "go", "build", "-trimpath", "-o", filepath.Join(ctx, tt.binary), tt.pkg)
	}
	for _, tt := range tests {
		t.Run(tt.dockerfile, func(t *testing.T) {
			image := "edgeplane-test/" + tt.binary + ":" + tag
			run(t, ".", nil, "docker", "build", "-q", "-f", tt.dockerfile, "-t", image, ctx)
			t.Cleanup(func() {
				_ = exec.Command("docker", "rmi", "-f", image).Run()
			})
			inspect := run(t, ".", nil, "docker", "image", "inspect", "--format",
				"{{.Config.User}}|{{.Config.Entrypoint}}|{{range $p, $_ := .Config.ExposedPorts}}{{$p}} {{end}}", image)
			parts := strings.Split(strings.TrimSpace(inspect), "|")
			if got := parts[0]; got != tt.user {
				t.Errorf("User: got %q, want %q", got, tt.user)
			}
			if got := parts[1]; got != tt.entrypoint {
				t.Errorf("Entrypoint: got %q, want %q", got, tt.entrypoint)
			}
			for _, p := range tt.ports {
				if !strings.Contains(parts[2], p) {
					t.Errorf("ExposedPorts %q: missing %s", parts[2], p)
				}
			}
			// The static binary runs on the empty image and knows its contract flags. Any exit
			// status of the binary's own is fine for --help; 125-127 mean docker could not run it.
			out, err := exec.CommandContext(t.Context(), "docker", "run", "--rm", "--network", "none", image, "--help").CombinedOutput()
			if code := exitCode(err); code < 0 || code >= 125 {
				t.Fatalf("docker run %s --help: %v (exit %d)\n%s", image, err, code, out)
			}
			for _, f := range tt.flags {
				if !bytes.Contains(out, []byte(f)) {
					t.Errorf("%s --help does not mention --%s:\n%s", tt.binary, f, out)
				}
			}
		})
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

func randomTag(t *testing.T) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// compose returns the command line of an available Compose CLI: the docker plugin or v1.
func compose(t *testing.T) []string {
	t.Helper()
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		need(t, "docker compose / docker-compose", err)
	}
	return []string{"docker-compose"}
}

func TestCompose_Config(t *testing.T) {
	cli := compose(t)
	args := append(cli[1:], "-f", "docker-compose.yml", "config", "-q")
	t.Run("valid with a password", func(t *testing.T) {
		run(t, ".", []string{"REDIS_PASSWORD=" + randomTag(t)}, cli[0], args...)
	})
	t.Run("refused without a password", func(t *testing.T) {
		cmd := exec.CommandContext(t.Context(), cli[0], args...)
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "REDIS_PASSWORD=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("config without REDIS_PASSWORD succeeded, want an error:\n%s", out)
		}
	})
}

func TestCompose_RedisNotPublished(t *testing.T) {
	b, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		l := strings.TrimSpace(line)
		if strings.HasPrefix(l, "#") {
			continue
		}
		if strings.Contains(l, "6379:") && !strings.Contains(l, "127.0.0.1:6379:") {
			t.Errorf("docker-compose.yml:%d publishes Redis beyond loopback: %s", i+1, l)
		}
	}
}

func TestSentinelCompose_Config(t *testing.T) {
	cli := compose(t)
	args := append(cli[1:], "-f", "docker-compose.sentinel.yml", "config", "-q")
	env := []string{"REDIS_PASSWORD=" + randomTag(t), "REPLICA_PASSWORD=" + randomTag(t), "SENTINEL_PASSWORD=" + randomTag(t)}
	run(t, ".", env, cli[0], args...)
}

// The HA Redis config keeps what README "High availability" promises: AOF fsynced every
// second, dangerous commands gone, and the compose file's ACL denying them to edgeplane.
func TestRedisHAConfig_DurableAndLocked(t *testing.T) {
	conf, err := os.ReadFile("ha/redis-ha.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"appendonly yes", "appendfsync everysec", `rename-command FLUSHALL ""`,
		`rename-command FLUSHDB ""`, `rename-command DEBUG ""`, "masteruser replicator"} {
		if !strings.Contains(string(conf), "\n"+want+"\n") {
			t.Errorf("ha/redis-ha.conf lacks %q", want)
		}
	}
	compose, err := os.ReadFile("docker-compose.sentinel.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"user default off", "-flushall -flushdb -config -replicaof -slaveof -debug",
		"EDGEPLANE_REDIS_MIN_REPLICAS", "master_name=edgeplane"} {
		if !strings.Contains(string(compose), want) {
			t.Errorf("docker-compose.sentinel.yml lacks %q", want)
		}
	}
}
