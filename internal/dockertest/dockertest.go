// Package dockertest gives tests a real Docker engine and a tiny image to run on it.
//
//	c := dockertest.Client(t)          // skips without an engine, unless CI is set
//	image := dockertest.Image(t, c)    // built locally, removed when the test ends
//
// Build and Remove do the same for programs (benchmarks).
//
// The image is a static Go HTTP server (FROM scratch, no registry needed): it answers every
// request with "<$NAME> <path>" on $PORT (default 8080), logs one line per request to stdout,
// writes a line to stderr at start, and `/server -check` is a healthcheck command.
package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// Client returns a client of the engine DOCKER_HOST (or the local socket) names. Without a
// reachable engine the test is skipped, or fails when the CI environment variable is set.
func Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	}
	if err != nil {
		if os.Getenv("CI") == "" {
			t.Skipf("no Docker engine: %v", err)
		}
		t.Fatalf("no Docker engine (CI is set, so Docker tests must run): %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Image builds the test server image under a unique tag and removes it when the test ends
// (after the test's own later cleanups, so its containers are gone first). It returns the tag.
func Image(t testing.TB, c *client.Client) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tag, err := Build(ctx, c, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Remove(context.Background(), c, tag); err != nil {
			t.Logf("removing test image %s: %v", tag, err)
		}
	})
	return tag
}

// Build compiles the test server (CGO_ENABLED=0) in dir, builds the image from it under a
// unique tag and returns the tag. The caller removes it (Remove).
func Build(ctx context.Context, c *client.Client, dir string) (string, error) {
	bin, src := filepath.Join(dir, "server"), filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte(serverSource), 0o644); err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the test server: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	bctx, err := buildContext(exe)
	if err != nil {
		return "", err
	}
	tag := "edgeplane-test-" + randomHex(6) + ":latest"
	res, err := c.ImageBuild(ctx, bctx, client.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", fmt.Errorf("building image %s: %w", tag, err)
	}
	defer res.Body.Close()
	if err := buildResult(res.Body); err != nil {
		return "", fmt.Errorf("building image %s: %w", tag, err)
	}
	return tag, nil
}

// Remove removes an image Build made.
func Remove(ctx context.Context, c *client.Client, tag string) error {
	_, err := c.ImageRemove(ctx, tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	return err
}

// RemoveContainers removes every container labelled io.edgeplane.namespace=namespace:
// what a test's control plane (with a namespace of its own) left behind.
func RemoveContainers(t testing.TB, c *client.Client, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", "io.edgeplane.namespace="+namespace)})
	if err != nil {
		t.Logf("listing test containers: %v", err)
		return
	}
	for _, ct := range list.Items {
		if _, err := c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
			t.Logf("removing test container %s: %v", ct.ID, err)
		}
	}
}

// Namespace returns a fresh namespace for a test's control plane, so its containers never
// meet another test's.
func Namespace() string { return "eptest" + randomHex(4) }

func buildContext(exe []byte) (io.Reader, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY server /server\nEXPOSE 8080\nENTRYPOINT [\"/server\"]\n")},
		{"server", 0o755, exe},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
}

// buildResult reads the engine's JSON progress stream and returns the build's error, if any.
func buildResult(r io.Reader) error {
	dec := json.NewDecoder(r)
	var log strings.Builder
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		log.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", m.Error, log.String())
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

const serverSource = `package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
)

func main() {
	check := flag.Bool("check", false, "healthcheck: exit 0 if the server answers")
	flag.Parse()
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	if *check {
		res, err := http.Get("http://127.0.0.1:" + port + "/healthz")
		if err != nil || res.StatusCode != 200 {
			os.Exit(1)
		}
		os.Exit(0)
	}
	name := os.Getenv("NAME")
	fmt.Fprintln(os.Stderr, "starting", name)
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("request", r.Method, r.URL.Path)
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})
	fmt.Println("listening on", port)
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`
