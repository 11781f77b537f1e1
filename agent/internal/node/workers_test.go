package node

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The worker processes of these tests are this test binary: TestMain runs RunWorker when
// WorkerEnv is set, with the agent's Config (the fields a test sets) from testWorkerEnv.
const testWorkerEnv = "EDGEPLANE_TEST_WORKER_CONFIG"

type testWorkerConfig struct {
	NodeID, RedisURL string
	DrainTimeout     time.Duration
}

func TestMain(m *testing.M) {
	if v, ok := os.LookupEnv(WorkerEnv); ok {
		os.Exit(runTestWorker(v))
	}
	os.Exit(m.Run())
}

func runTestWorker(index string) int {
	var tc testWorkerConfig
	if err := json.Unmarshal([]byte(os.Getenv(testWorkerEnv)), &tc); err != nil {
		fmt.Fprintln(os.Stderr, "test worker:", err)
		return 2
	}
	i, _ := strconv.Atoi(index)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	cfg := Config{NodeID: tc.NodeID, RedisURL: tc.RedisURL, DrainTimeout: tc.DrainTimeout, HTTPAddr: "127.0.0.1:0"}
	if err := RunWorker(ctx, cfg, i); err != nil {
		fmt.Fprintln(os.Stderr, "test worker:", err)
		return 1
	}
	return 0
}

// testWorkerCommand starts this test binary as a worker with tc as its configuration.
func testWorkerCommand(tc testWorkerConfig) func(int) *exec.Cmd {
	b, _ := json.Marshal(tc)
	return func(int) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), testWorkerEnv+"="+string(b))
		return cmd
	}
}

// workerAgent starts an agent with workers processes in all (this test binary as the
// workers) against cp, and returns it with its first session.
func workerAgent(t *testing.T, cp *fakeControlPlane, workers int, redisURL string) (*Agent, *session) {
	t.Helper()
	a := startAgent(t, Config{ControlPlane: cp.addr, RedisURL: redisURL, DrainTimeout: 5 * time.Second, Workers: workers,
		WorkerCommand: testWorkerCommand(testWorkerConfig{NodeID: "node-1", RedisURL: redisURL, DrainTimeout: 5 * time.Second})})
	return a, cp.next(t)
}

// waitServing waits until n workers serve.
func waitServing(t *testing.T, a *Agent, n int) []*workerProc {
	t.Helper()
	var ws []*workerProc
	waitUntil(t, fmt.Sprintf("%d workers serving", n), func() bool {
		ws = a.pool.serving()
		return len(ws) == n
	})
	return ws
}

// fresh GETs host/ on a new connection each time, n times, and returns the bodies by
// count; a failed request fails the test.
func fresh(t *testing.T, addr, host string, n int) map[string]int {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	bodies := map[string]int{}
	for i := range n {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/", nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		bodies[fmt.Sprintf("%d %s", resp.StatusCode, b)]++
	}
	return bodies
}

// servedBy returns how many requests each process counted for route (its
// edgeplane_agent_requests_total series), by worker label.
func servedBy(t *testing.T, a *Agent, route string) map[string]int {
	t.Helper()
	_, body := fetch(t, a.MetricsAddr(), "", "/metrics")
	out := map[string]int{}
	for line := range strings.Lines(body) {
		if !strings.HasPrefix(line, "edgeplane_agent_requests_total{") || !strings.Contains(line, `route="`+route+`"`) {
			continue
		}
		i := strings.Index(line, `worker="`)
		if i < 0 {
			t.Fatalf("series without a worker label: %s", line)
		}
		w := line[i+8 : i+8+strings.IndexByte(line[i+8:], '"')]
		n, _ := strconv.Atoi(strings.TrimSpace(line[strings.LastIndexByte(line, ' ')+1:]))
		out[w] += n
	}
	return out
}

// TestWorkers_ServeWhatTheAgentApplies: every process serves, and from the Ack of a
// revision on, every new connection (whichever process the kernel gives it to) is served
// with it; a config the agent refuses reaches no worker.
func TestWorkers_ServeWhatTheAgentApplies(t *testing.T) {
	cp := startControlPlane(t)
	a, s := workerAgent(t, cp, 3, "")
	waitServing(t, a, 2)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("app", "app.test", backend(t, "one"))}}), 1)
	if got := fresh(t, a.Addr(), "app.test", 60); got["200 one"] != 60 {
		t.Fatalf("after revision 1: %v, want 60 x 200 one", got)
	}
	by := servedBy(t, a, "app")
	if len(by) != 3 || by["0"]+by["1"]+by["2"] != 60 {
		t.Fatalf("requests by process %v: want all three serving, 60 in all", by)
	}

	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Routes: []*edgeplanev1.Route{route("app", "app.test", backend(t, "two"))}}), 2)
	if got := fresh(t, a.Addr(), "app.test", 60); got["200 two"] != 60 {
		t.Fatalf("after the Ack of revision 2: %v, want 60 x 200 two", got)
	}

	bad := route("bad", "bad.test", "gopher://x")
	wantNack(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 3, BaseRevision: 2, Routes: []*edgeplanev1.Route{bad}}), 3, `target "gopher://x"`)
	if got := fresh(t, a.Addr(), "app.test", 30); got["200 two"] != 30 {
		t.Fatalf("after a refused revision 3: %v, want 30 x 200 two", got)
	}
	for _, w := range a.pool.serving() {
		reply, err := w.link.apply(t.Context(), &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1})
		if err != nil || reply.GetAck().GetRevision() != 2 {
			t.Errorf("worker %d: %v %v, want it at revision 2 (a repeated delta is acknowledged)", w.index, reply, err)
		}
	}
}

// TestWorkers_KilledWorkerComesBackOnItsSocket: a worker that dies is started again on the
// same socket, with the config the agent applied while it was gone; new connections the
// kernel gave its socket meanwhile wait in its accept queue and are served, none reset.
func TestWorkers_KilledWorkerComesBackOnItsSocket(t *testing.T) {
	cp := startControlPlane(t)
	a, s := workerAgent(t, cp, 2, "")
	w := waitServing(t, a, 1)[0]
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("app", "app.test", backend(t, "one"))}}), 1)

	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w.exited
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Routes: []*edgeplanev1.Route{route("app", "app.test", backend(t, "two"))}}), 2)
	if got := fresh(t, a.Addr(), "app.test", 60); got["200 two"] != 60 {
		t.Fatalf("while and after the worker came back: %v, want 60 x 200 two", got)
	}
	back := waitServing(t, a, 1)[0]
	if back == w || back.cmd.Process.Pid == w.cmd.Process.Pid {
		t.Fatal("the killed worker was not replaced")
	}
	if n := a.pool.restarts.Load(); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
	if by := servedBy(t, a, "app"); by["1"] == 0 {
		t.Errorf("requests by process %v: the new worker served none", by)
	}
	_, body := fetch(t, a.MetricsAddr(), "", "/metrics")
	if !strings.Contains(body, `edgeplane_agent_worker_restarts_total{worker="0"} 1`) {
		t.Errorf("/metrics lacks the restart")
	}
}

// TestWorkers_StopWithTheAgent: when the agent stops, its workers drain and exit with it.
func TestWorkers_StopWithTheAgent(t *testing.T) {
	cp := startControlPlane(t)
	a, err := New(Config{ControlPlane: cp.addr, NodeID: "node-1", HTTPAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0",
		DrainTimeout: 5 * time.Second, Workers: 2,
		WorkerCommand: testWorkerCommand(testWorkerConfig{NodeID: "node-1", DrainTimeout: 5 * time.Second})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.Ready()
	w := waitServing(t, a, 1)[0]
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run() = %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of its context ending")
	}
	select {
	case <-w.exited:
	default:
		t.Fatal("Run returned before its worker exited")
	}
	if code := w.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("worker exit code %d, want 0 (drained on SIGTERM)", code)
	}
}

// TestWorkers_PublishTheirRequestRecords: with workers, every request still has exactly
// one record in Redis, whichever process served it.
func TestWorkers_PublishTheirRequestRecords(t *testing.T) {
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	cp := startControlPlane(t)
	a, s := workerAgent(t, cp, 2, srv.URL())
	waitServing(t, a, 1)
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("app", "app.test", backend(t, "one"))}}), 1)
	// Each process's publisher starts beside its listener: warm up until both have
	// published, let the last blocks land, and count from an empty stream.
	waitUntil(t, "both processes publishing", func() bool {
		fresh(t, a.Addr(), "app.test", 10)
		_, body := fetch(t, a.MetricsAddr(), "", "/metrics")
		return !strings.Contains(body, `edgeplane_agent_traces_published_total{worker="0"} 0`) &&
			!strings.Contains(body, `edgeplane_agent_traces_published_total{worker="1"} 0`) &&
			strings.Contains(body, `edgeplane_agent_traces_published_total{worker="1"}`)
	})
	time.Sleep(3 * traceLinger)
	if err := rdb.Del(t.Context(), "logs:request:stream").Err(); err != nil {
		t.Fatal(err)
	}
	const n = 80
	if got := fresh(t, a.Addr(), "app.test", n); got["200 one"] != n {
		t.Fatalf("%v, want %d x 200 one", got, n)
	}
	if by := servedBy(t, a, "app"); by["0"] == 0 || by["1"] == 0 {
		t.Fatalf("requests by process %v: want both serving", by)
	}
	// A worker started again records every request from its first. (A SIGKILL loses what
	// the killed one had not published yet: let it publish first.)
	time.Sleep(3 * traceLinger)
	w := a.pool.serving()[0]
	if err := w.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-w.exited
	const m = 40
	if got := fresh(t, a.Addr(), "app.test", m); got["200 one"] != m {
		t.Fatalf("%v, want %d x 200 one", got, m)
	}
	records(t, rdb, "logs:request:stream", n+m)
	time.Sleep(3 * traceLinger) // none more may come
	recs := records(t, rdb, "logs:request:stream", n+m)
	if len(recs) != n+m {
		t.Fatalf("%d records, want exactly %d", len(recs), n+m)
	}
	ids := map[string]bool{}
	for _, r := range recs {
		if ids[r.TraceID] {
			t.Errorf("trace %s recorded twice", r.TraceID)
		}
		ids[r.TraceID] = true
		if r.Route != "app" || r.Node != "node-1" || r.Revision != 1 {
			t.Errorf("record %+v, want route app, node-1, revision 1", r)
		}
	}
}

// TestWorkers_FollowTheAgentsHealthChecks: only the agent probes a checked target (one
// connection reaches its health endpoint, not one per process), and every process takes a
// target out when the agent's checks fail it and back when they pass it again.
func TestWorkers_FollowTheAgentsHealthChecks(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var mu sync.Mutex
	probers := map[string]bool{} // remote addresses of health check requests
	b := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			mu.Lock()
			probers[r.RemoteAddr] = true
			mu.Unlock()
			if !healthy.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		io.WriteString(w, "B")
	}))
	t.Cleanup(b.Close)
	cp := startControlPlane(t)
	a, s := workerAgent(t, cp, 3, "")
	waitServing(t, a, 2)
	rt := &edgeplanev1.Route{Name: "app", Hosts: []string{"app.test"}, Targets: []*edgeplanev1.Target{{Url: backend(t, "A")}, {Url: b.URL}},
		HealthCheck: &edgeplanev1.HealthCheck{Path: "/healthz", Interval: durationpb.New(50 * time.Millisecond),
			Timeout: durationpb.New(2 * time.Second), HealthyThreshold: 1, UnhealthyThreshold: 1}}
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{rt}}), 1)

	time.Sleep(time.Second) // twenty check intervals
	mu.Lock()
	n := len(probers)
	mu.Unlock()
	if n != 1 {
		t.Fatalf("%d connections probed the target, want 1 (the agent's prober; its workers follow it)", n)
	}
	healthy.Store(false)
	gauge := func(worker, v string) string {
		return `edgeplane_agent_target_healthy{route="app",target="` + b.URL + `",worker="` + worker + `"} ` + v
	}
	waitUntil(t, "every process to take B out", func() bool {
		_, body := fetch(t, a.MetricsAddr(), "", "/metrics")
		return strings.Contains(body, gauge("0", "0")) && strings.Contains(body, gauge("1", "0")) && strings.Contains(body, gauge("2", "0"))
	})
	if got := fresh(t, a.Addr(), "app.test", 60); got["200 A"] != 60 {
		t.Fatalf("with B failing the agent's checks: %v, want 60 x 200 A from every process", got)
	}
	healthy.Store(true)
	waitUntil(t, "every process to put B back", func() bool {
		_, body := fetch(t, a.MetricsAddr(), "", "/metrics")
		return strings.Contains(body, gauge("0", "1")) && strings.Contains(body, gauge("1", "1")) && strings.Contains(body, gauge("2", "1"))
	})
	if got := fresh(t, a.Addr(), "app.test", 60); got["200 B"] == 0 {
		t.Fatalf("with B passing again: %v, want B back in rotation", got)
	}
}

// stoppedWorker starts an agent of two processes with the link bounds t, serving route app
// (body "one") at revision 1, then stops its worker with SIGSTOP (a wedged worker) and waits
// until every thread of it has stopped.
func stoppedWorker(t *testing.T, bounds workerTimeouts) (*Agent, *session, *workerProc) {
	t.Helper()
	cp := startControlPlane(t)
	a := startAgent(t, Config{ControlPlane: cp.addr, DrainTimeout: 5 * time.Second, Workers: 2,
		WorkerCommand:  testWorkerCommand(testWorkerConfig{NodeID: "node-1", DrainTimeout: 5 * time.Second}),
		workerTimeouts: bounds})
	s := cp.next(t)
	w := waitServing(t, a, 1)[0]
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("app", "app.test", backend(t, "one"))}}), 1)
	if err := w.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the worker stopped", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", w.cmd.Process.Pid))
		return strings.Contains(string(b), ") T ")
	})
	return a, s, w
}

// TestWorkers_StoppedWorkerDoesNotHoldTheAck: a worker that stops answering (SIGSTOP here:
// wedged) holds the agent's Ack of a delta no longer than the delta's bound; it is then
// replaced, and the new worker serves the revision the agent acknowledged.
func TestWorkers_StoppedWorkerDoesNotHoldTheAck(t *testing.T) {
	a, s, w := stoppedWorker(t, workerTimeouts{delta: 500 * time.Millisecond, call: 500 * time.Millisecond})
	start := time.Now()
	wantAck(t, s.push(t, &edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1,
		Routes: []*edgeplanev1.Route{route("app", "app.test", backend(t, "two"))}}), 2)
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the Ack took %v with a stopped worker, want about the 500 ms bound", took)
	}
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the stopped worker was not killed")
	}
	if got := fresh(t, a.Addr(), "app.test", 60); got["200 two"] != 60 {
		t.Fatalf("after the Ack: %v, want 60 x 200 two (the replaced worker serves revision 2)", got)
	}
	if back := waitServing(t, a, 1)[0]; back == w {
		t.Fatal("the stopped worker was not replaced")
	}
}

// TestWorkers_UnansweringWorkerIsReplaced: a worker that stops answering while no config
// changes is found by the agent's pings and replaced; the new connections the kernel queued
// on its socket meanwhile are served by its successor.
func TestWorkers_UnansweringWorkerIsReplaced(t *testing.T) {
	a, _, w := stoppedWorker(t, workerTimeouts{call: 300 * time.Millisecond, ping: 100 * time.Millisecond})
	if got := fresh(t, a.Addr(), "app.test", 60); got["200 one"] != 60 {
		t.Fatalf("with a stopped worker: %v, want 60 x 200 one (its queue served by its successor)", got)
	}
	select {
	case <-w.exited:
	case <-time.After(5 * time.Second):
		t.Fatal("the stopped worker was not killed")
	}
	if n := a.pool.restarts.Load(); n != 1 {
		t.Errorf("restarts = %d, want 1", n)
	}
}
