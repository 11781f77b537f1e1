package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// bins holds the binaries built once by TestMain.
var bins struct{ control, agent string }

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "edgeplane-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins.control, bins.agent = filepath.Join(dir, "edgeplane-control"), filepath.Join(dir, "edgeplane-agent")
	for out, pkg := range map[string]string{bins.control: "../../controlplane", bins.agent: "../../agent"} {
		cmd := exec.Command("go", "build", "-o", out, pkg)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building", pkg, ":", err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one binary running under a test; it can be killed and started again with the
// same arguments. Its JSON log lines are kept for assertions.
type proc struct {
	t    *testing.T
	name string
	bin  string
	args []string

	mu    sync.Mutex // guards cmd, lines
	cmd   *exec.Cmd
	done  chan struct{}
	lines []map[string]any
}

func startProc(t *testing.T, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, bin: bin, args: args}
	p.Start()
	t.Cleanup(p.Kill)
	return p
}

// Start runs the binary (again).
func (p *proc) Start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, p.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("starting %s: %v", p.name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go p.collect(stderr, done, cmd)
}

func (p *proc) collect(r io.Reader, done chan struct{}, cmd *exec.Cmd) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var rec map[string]any
		if json.Unmarshal(sc.Bytes(), &rec) != nil {
			rec = map[string]any{"msg": sc.Text()}
		}
		if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "[%s] %s\n", p.name, sc.Text())
		}
		p.mu.Lock()
		p.lines = append(p.lines, rec)
		p.mu.Unlock()
	}
	_ = cmd.Wait()
	close(done)
}

// Kill sends SIGKILL and waits for the process to exit.
func (p *proc) Kill() { p.signal(syscall.SIGKILL) }

// Stop sends SIGTERM (a graceful stop) and waits for the process to exit.
func (p *proc) Stop() { p.signal(syscall.SIGTERM) }

func (p *proc) signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// ExitCode waits up to timeout for the process to exit and returns its exit code, or -1 if
// it is still running.
func (p *proc) ExitCode(timeout time.Duration) int {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		return -1
	}
}

// Logs returns the log records whose msg is msg.
func (p *proc) Logs(msg string) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []map[string]any
	for _, l := range p.lines {
		if l["msg"] == msg {
			out = append(out, l)
		}
	}
	return out
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// control is one control-plane replica.
type control struct {
	*proc
	Addr  string
	conn  *grpc.ClientConn
	token string // admin bearer token of a TLS replica, if admin authentication needs one
}

func startControl(t *testing.T, redisURL, replica string, extra ...string) *control {
	t.Helper()
	store := []string{"--redis-url", redisURL}
	if redisURL == "dev" {
		store = []string{"--dev"}
	}
	// freeAddr's port was free a moment ago; another package's test (they run in parallel)
	// may take it before the replica binds it. A replica that exits for that reason is
	// started again on another port; any other early exit fails the test with its log.
	for attempt := 1; ; attempt++ {
		addr := freeAddr(t)
		args := append(append([]string{}, store...), "--grpc-addr", addr, "--http-addr", "-", "--insecure",
			"--replica-id", replica, "--log-format", "json", "--log-level", "debug")
		args = append(args, extra...)
		c := &control{proc: startProc(t, replica, bins.control, args...), Addr: addr}
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		c.conn = conn
		if c.waitServing() == errPortTaken && attempt < 3 {
			t.Logf("%s: %s was taken before it could bind it; starting it on another port", replica, addr)
			continue
		}
		return c
	}
}

// errPortTaken: the process exited because its listen address was in use.
var errPortTaken = errors.New("listen address in use")

// waitServing is WaitServing that returns errPortTaken instead of failing when the replica
// exited because its port was taken.
func (c *control) waitServing() error {
	c.t.Helper()
	hc := healthpb.NewHealthClient(c.conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if c.exited() {
			if c.logged("address already in use") {
				return errPortTaken
			}
			c.t.Fatalf("%s exited before serving: %v", c.name, c.lastLines(20))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s not serving after 20s (health: %v, %v): %v", c.name, res.GetStatus(), err, c.lastLines(20))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// exited reports whether the process has exited, without waiting.
func (p *proc) exited() bool {
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// logged reports whether any log line of the process contains s.
func (p *proc) logged(s string) bool {
	for _, l := range p.lastLines(0) {
		if strings.Contains(fmt.Sprint(l), s) {
			return true
		}
	}
	return false
}

// lastLines returns the process's last n log records (all of them if n is 0).
func (p *proc) lastLines(n int) []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	if n == 0 || n > len(p.lines) {
		n = len(p.lines)
	}
	return append([]map[string]any(nil), p.lines[len(p.lines)-n:]...)
}

// WaitServing waits until the replica's gRPC health check says SERVING.
func (c *control) WaitServing() {
	c.t.Helper()
	hc := healthpb.NewHealthClient(c.conn)
	eventually(c.t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		res, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil {
			return err
		}
		if res.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("health: %v", res.GetStatus())
		}
		return nil
	})
}

func (c *control) Routes() edgeplanev1.RoutingServiceClient {
	return edgeplanev1.NewRoutingServiceClient(c.conn)
}
func (c *control) Fleet() edgeplanev1.FleetServiceClient {
	return edgeplanev1.NewFleetServiceClient(c.conn)
}

// agent is one edge agent process.
type agent struct {
	*proc
	Node string
	Addr string // proxy address
}

func startAgent(t *testing.T, cpAddr, node, cacheDir string, extra ...string) *agent {
	t.Helper()
	addr := freeAddr(t)
	args := []string{"--control-plane", cpAddr, "--node-id", node, "--http-addr", addr, "--https-addr", freeAddr(t),
		"--metrics-addr", freeAddr(t), "--cache-dir", cacheDir, "--log-format", "json", "--labels", "zone=test"}
	args = append(args, extra...)
	a := &agent{proc: startProc(t, node, bins.agent, args...), Node: node, Addr: addr}
	a.WaitListening()
	return a
}

// WaitListening waits until the proxy port accepts connections.
func (a *agent) WaitListening() {
	a.t.Helper()
	eventually(a.t, 20*time.Second, func() error {
		c, err := net.DialTimeout("tcp", a.Addr, time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// Get sends GET http://host/path through the agent and returns the status and body.
func (a *agent) Get(host, path string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+a.Addr+path, nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// expectServes waits until the agent answers host/path with status and a body containing
// want.
func (a *agent) expectServes(host, path string, status int, want string) {
	a.t.Helper()
	eventually(a.t, 15*time.Second, func() error {
		code, body, err := a.Get(host, path)
		if err != nil {
			return err
		}
		if code != status || !strings.Contains(body, want) {
			return fmt.Errorf("%s%s via %s: got %d %q, want %d containing %q", host, path, a.Node, code, body, status, want)
		}
		return nil
	})
}

// eventually retries fn until it succeeds or timeout passes, then fails with its last error.
var eventually = waitfor.Eventually

// backend starts an HTTP server answering "<name> <path>".
func backend(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}
