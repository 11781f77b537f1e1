package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"strings"
	"testing"
)

// tokenCreate makes a token with role by running `edgeplane-control token create` against
// the Redis at redisURL, and returns its secret (what the command prints on stdout).
func tokenCreate(t testing.TB, redisURL, role string) string {
	t.Helper()
	var b [3]byte
	_, _ = rand.Read(b[:])
	name := "e2e-" + role + "-" + hex.EncodeToString(b[:])
	cmd := exec.Command(bins.control, "token", "create", "--name", name, "--role", role, "--redis-url", redisURL)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("edgeplane-control token create: %v\n%s", err, stderr.String())
	}
	secret := strings.TrimSpace(string(out))
	if !strings.HasPrefix(secret, "ept_") || strings.Contains(secret, "\n") {
		t.Fatalf("token create printed %q on stdout, want the token alone", out)
	}
	return secret
}

// The TLS tests' admin calls carry an admin token (enroll_harness_test.go).
func init() {
	adminToken = func(t testing.TB, redisURL string) string { return tokenCreate(t, redisURL, "admin") }
}
