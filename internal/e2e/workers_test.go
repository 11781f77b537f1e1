package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// children returns the pids of pid's child processes.
func children(t *testing.T, pid int) []int {
	t.Helper()
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid)) // each thread's
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, task := range tasks {
		b, _ := os.ReadFile(task)
		for _, f := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(f)
			out = append(out, n)
		}
	}
	return out
}

// `--workers 2` as users run it: both processes of the agent serve a route created with
// wait_for_agents from the call's return on; the worker goes away with the agent, even one
// killed with SIGKILL (which cannot drain anything).
func TestAgentWorkers_ServeFromTheAckAndDieWithTheAgent(t *testing.T) {
	cp := startControl(t, "dev", "cp-dev")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir(), "--workers", "2")
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	var worker int
	eventually(t, 10*time.Second, func() error {
		kids := children(t, ag.cmd.Process.Pid)
		if len(kids) != 1 {
			return fmt.Errorf("agent has children %v, want one worker", kids)
		}
		worker = kids[0]
		return nil
	})

	res := create(t, cp, route("hello", "hello.localhost", backend(t, "A")))
	if res.GetPropagation().GetAcked() != 1 {
		t.Fatalf("propagation: got %v, want acked 1", res.GetPropagation())
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * time.Second}
	for i := range 40 {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ag.Addr+"/", nil)
		req.Host = "hello.localhost"
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || string(b) != "A /" {
			t.Fatalf("request %d on a new connection: %d %q, want 200 \"A /\" from every process", i, resp.StatusCode, b)
		}
	}

	ag.Kill()
	eventually(t, 5*time.Second, func() error {
		if err := syscall.Kill(worker, 0); err == nil {
			if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", worker)); strings.Contains(string(b), ") Z ") {
				return nil // exited; its parent (the test's init) has not reaped it yet
			}
			return fmt.Errorf("worker %d still runs after its agent was killed", worker)
		}
		return nil
	})
}
