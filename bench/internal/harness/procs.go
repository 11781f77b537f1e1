// Package harness runs the pieces a control-plane benchmark needs: a private redis-server, the
// real edgeplane-control binary as a subprocess, and in-process fake agents on loopback.
//
// Everything listens on 127.0.0.1 only. Every process it starts is killed by the pid it got
// (never by name), and dies with the benchmark (Pdeathsig) if the benchmark is killed.
package harness

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// RaiseNoFile lifts RLIMIT_NOFILE to its hard limit and returns the new soft limit.
func RaiseNoFile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// ModuleRoot walks up from the working directory to the directory holding go.mod.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// ControlBinary returns bin when set; otherwise it builds ./controlplane into a temporary
// directory (go build -o DIR/edgeplane-control ./controlplane) and returns that path.
func ControlBinary(bin string) (string, error) {
	return Binary(bin, "controlplane", "edgeplane-control")
}

// AgentBinary is ControlBinary for ./agent (DIR/edgeplane-agent).
func AgentBinary(bin string) (string, error) { return Binary(bin, "agent", "edgeplane-agent") }

// Binary returns bin when set; otherwise it builds the module's ./pkg into a temporary
// directory as name and returns that path.
func Binary(bin, pkg, name string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	dir, err := os.MkdirTemp("", "edgeplane-bench-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir, cmd.Stdout, cmd.Stderr = root, os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building ./%s: %w", pkg, err)
	}
	return out, nil
}

// Redis is a redis-server this process started.
type Redis struct {
	Addr   string
	cmd    *exec.Cmd
	done   chan struct{}
	Client *redis.Client
}

// StartRedis starts /usr/bin/redis-server (or redis-server from PATH) on a free loopback port,
// in memory only, and waits for PING.
func StartRedis(ctx context.Context) (*Redis, error) {
	bin := "/usr/bin/redis-server"
	if _, err := os.Stat(bin); err != nil {
		if bin, err = exec.LookPath("redis-server"); err != nil {
			return nil, errors.New("redis-server not found")
		}
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--loglevel", "warning",
		"--maxclients", "10000", "--protected-mode", "yes")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.Dir = os.TempDir()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	r := &Redis{Addr: fmt.Sprintf("127.0.0.1:%d", port), cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(r.done) }()
	r.Client = redis.NewClient(&redis.Options{Addr: r.Addr, PoolSize: 64})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := r.Client.Ping(ctx).Err(); err == nil {
			return r, nil
		}
		select {
		case <-r.done:
			return nil, errors.New("redis-server exited at start")
		default:
		}
		if time.Now().After(deadline) {
			r.Stop()
			return nil, errors.New("redis-server did not answer PING within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// URL is the redis:// URL of the server.
func (r *Redis) URL() string { return "redis://" + r.Addr }

// Flush empties the server between scenarios.
func (r *Redis) Flush(ctx context.Context) error { return r.Client.FlushAll(ctx).Err() }

// PID is the server's process id.
func (r *Redis) PID() int { return r.cmd.Process.Pid }

// Stop kills the server this process started (by its pid) and waits for it.
func (r *Redis) Stop() {
	if r == nil {
		return
	}
	if r.Client != nil {
		_ = r.Client.Close()
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-r.done:
	case <-time.After(5 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.done
	}
}

// ControlOptions configure a control-plane subprocess.
type ControlOptions struct {
	Bin      string
	RedisURL string
	Replica  string
	// Env is added to the environment (e.g. GODEBUG=gctrace=1).
	Env []string
	// Args are extra flags (e.g. "--telemetry-retention", "1m").
	Args []string
	// PKI, when set, makes the control plane serve TLS with that CA (else --insecure).
	PKI *PKI
}

// Control is an edgeplane-control subprocess.
type Control struct {
	Addr    string
	LogPath string
	Conn    *grpc.ClientConn // an admin connection (RoutingService, FleetService)
	cmd     *exec.Cmd
	done    chan struct{}
	logf    *os.File
}

// StartControl runs the control plane on a free port and waits until grpc.health.v1 says
// SERVING. Its stderr goes to a log file (LogPath).
func StartControl(ctx context.Context, o ControlOptions) (*Control, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	if o.Replica == "" {
		o.Replica = "bench"
	}
	logf, err := os.CreateTemp("", "edgeplane-control-*.log")
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	args := []string{"--redis-url", o.RedisURL, "--grpc-addr", addr, "--http-addr", "-", "--replica-id", o.Replica, "--log-level", "warn"}
	creds := insecure.NewCredentials()
	if o.PKI != nil {
		admin, err := o.PKI.ClientCert("bench", "admin") // calls as an admin with a certificate
		if err != nil {
			return nil, err
		}
		args, creds = append(args, o.PKI.ControlFlags()...), o.PKI.Creds(admin)
	} else {
		args = append(args, "--insecure")
	}
	args = append(args, o.Args...)
	cmd := exec.Command(o.Bin, args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	c := &Control{Addr: addr, LogPath: logf.Name(), cmd: cmd, done: make(chan struct{}), logf: logf}
	go func() { _ = cmd.Wait(); close(c.done) }()
	c.Conn, err = grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		c.Stop()
		return nil, err
	}
	hc := healthpb.NewHealthClient(c.Conn)
	deadline := time.Now().Add(20 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		res, err := hc.Check(cctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && res.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			fmt.Fprintf(os.Stderr, "# control plane pid=%d grpc=%s log=%s\n", c.PID(), addr, c.LogPath)
			return c, nil
		}
		select {
		case <-c.done:
			return nil, fmt.Errorf("control plane exited at start; log: %s", c.tail())
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			c.Stop()
			return nil, fmt.Errorf("control plane not SERVING within 20s (last: %v); log: %s", err, c.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the control plane's process id.
func (c *Control) PID() int { return c.cmd.Process.Pid }

// Alive reports whether the process is still running.
func (c *Control) Alive() bool {
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *Control) tail() string {
	b, _ := os.ReadFile(c.LogPath)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop ends the control plane (SIGTERM, then SIGKILL after 10s) and removes its log unless
// keepLog is set in the environment (EDGEPLANE_BENCH_KEEP_LOGS=1).
func (c *Control) Stop() {
	if c == nil {
		return
	}
	if c.Conn != nil {
		_ = c.Conn.Close()
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
	c.logf.Close()
	if os.Getenv("EDGEPLANE_BENCH_KEEP_LOGS") == "" {
		os.Remove(c.LogPath)
	} else {
		fmt.Fprintln(os.Stderr, "control-plane log kept:", c.LogPath)
	}
}

// Log returns the control plane's output so far.
func (c *Control) Log() string {
	b, _ := os.ReadFile(c.LogPath)
	return string(b)
}

// ProcStatus reads /proc/PID/status fields in KiB (VmRSS, VmHWM, ...) and Threads.
func ProcStatus(pid int) (map[string]int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, sc.Err()
}

// RSSKiB returns VmRSS of pid in KiB.
func RSSKiB(pid int) (int64, error) {
	st, err := ProcStatus(pid)
	if err != nil {
		return 0, err
	}
	v, ok := st["VmRSS"]
	if !ok {
		return 0, errors.New("no VmRSS")
	}
	return v, nil
}

// SelfCPUTime returns the CPU time this process consumed so far.
func SelfCPUTime() time.Duration {
	d, _ := CPUTime(os.Getpid())
	return d
}

// CPUTime returns user+system CPU time consumed by pid so far.
func CPUTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, errors.New("bad stat")
	}
	fs := strings.Fields(s[i+2:])
	// fields after ')' start at field 3 (state); utime is field 14, stime 15.
	if len(fs) < 13 {
		return 0, errors.New("short stat")
	}
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

// GCTrace is the last GODEBUG=gctrace=1 line of a Go process: live heap after the GC, stack
// and globals sizes (MB, as the runtime prints them).
type GCTrace struct {
	Line                    string
	HeapLiveMB, HeapGoalMB  int64
	StacksMB, GlobalsMB, GC int64
}

var gcLine = regexp.MustCompile(`gc (\d+) @.* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal, (\d+) MB stacks, (\d+) MB globals`)

// LastGCTrace parses the last gctrace line in log.
func LastGCTrace(log string) (GCTrace, bool) {
	lines := strings.Split(log, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		m := gcLine.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
		return GCTrace{Line: strings.TrimSpace(lines[i]), GC: n(m[1]), HeapLiveMB: n(m[4]), HeapGoalMB: n(m[5]), StacksMB: n(m[6]), GlobalsMB: n(m[7])}, true
	}
	return GCTrace{}, false
}

// Median of int64 samples.
func Median(xs []int64) int64 {
	s := append([]int64(nil), xs...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

// MachineCPU returns the busy and total CPU time of the whole machine so far (from /proc/stat),
// to tell how much of a run's CPU went to processes other than the benchmark's.
func MachineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	fs := strings.Fields(line)
	if len(fs) < 8 || fs[0] != "cpu" {
		return 0, 0
	}
	var sum, idle int64
	for i, f := range fs[1:] {
		v, _ := strconv.ParseInt(f, 10, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal
			sum += v
		}
		if i == 3 || i == 4 {
			idle += v
		}
	}
	const hz = 100
	return time.Duration(sum-idle) * time.Second / hz, time.Duration(sum) * time.Second / hz
}
