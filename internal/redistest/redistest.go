// Package redistest starts real redis-server processes for tests.
//
// Each call to New starts its own redis-server on a free loopback port and registers a
// t.Cleanup that kills it, so tests never share state and never leave a process behind:
//
//	srv := redistest.New(t)
//	client := redis.NewClient(&redis.Options{Addr: srv.Addr})
//
// The binary is looked up as "redis-server" in PATH, then at /usr/bin/redis-server. A missing
// binary fails the test (it is never skipped); `make deps` installs Debian's package.
package redistest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a redis-server may take to answer PING.
	startTimeout = 15 * time.Second
	// stopTimeout bounds a graceful shutdown before the process is killed.
	stopTimeout = 10 * time.Second
	// startAttempts is how many free ports New tries when another process takes the port
	// between picking it and redis-server binding it.
	startAttempts = 5
)

// Options configure a server. The zero value is an in-memory server (no RDB, no AOF).
type Options struct {
	// Persist turns on the append-only file in a per-test directory, so data written before
	// Stop is there again after Start. Without it a restart comes back empty.
	Persist bool
	// Password, when set, is required from clients (requirepass) and included in URL.
	Password string
	// Args are extra redis-server arguments, appended last (e.g. "--maxmemory", "10mb").
	Args []string
	// ConfigFile, when set, is passed first (a sentinel's config, which it rewrites).
	ConfigFile string
	// Host is the address the server binds and Addr names; "" is 127.0.0.1. A host other
	// than loopback turns protected mode off (the chaos suite's network namespaces).
	Host string
	// Wrap, when set, is a command the server runs under, e.g. {"ip", "netns", "exec", "ns1"}
	// to start it inside a network namespace; it must exec redis-server in place (same pid).
	Wrap []string
}

func (o Options) host() string {
	if o.Host == "" {
		return "127.0.0.1"
	}
	return o.Host
}

// Server is one redis-server process. Its port stays the same across Stop and Start.
// Methods that can fail call t.Fatal, so call them from the goroutine running the test.
type Server struct {
	// Addr is "127.0.0.1:port" (Options.Host in place of 127.0.0.1 when set).
	Addr string

	t      testing.TB
	bin    string
	dir    string // working directory: AOF files when persisting
	opts   Options
	port   int
	mu     sync.Mutex // guards proc
	proc   *process   // nil while stopped
	starts int        // how many times a process was started, names its log file
}

// process is one running redis-server; done closes when it has exited.
type process struct {
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

// New starts an in-memory redis-server and returns once it answers PING.
func New(t testing.TB) *Server {
	t.Helper()
	return NewWithOptions(t, Options{})
}

// NewWithOptions starts a redis-server configured by opts and returns once it answers PING.
func NewWithOptions(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := binary()
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	t.Cleanup(s.kill)
	var lastErr error
	for range startAttempts {
		port, err := freePort()
		if err != nil {
			t.Fatalf("redistest: picking a port: %v", err)
		}
		s.port = port
		s.Addr = net.JoinHostPort(opts.host(), strconv.Itoa(port))
		if lastErr = s.start(); lastErr == nil {
			return s
		}
	}
	t.Fatalf("redistest: starting redis-server: %v", lastErr)
	return nil
}

// URL returns "redis://127.0.0.1:port", with the password when Options.Password is set.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr}
	if s.opts.Password != "" {
		u.User = url.UserPassword("", s.opts.Password)
	}
	return u.String()
}

// Port returns the TCP port the server listens on.
func (s *Server) Port() int { return s.port }

// Dir returns the server's working directory (AOF files, a cluster node's nodes.conf).
func (s *Server) Dir() string { return s.dir }

// Start starts the server again on the same port after Stop or Kill. Without
// Options.Persist the restarted server is empty. It fails the test if the server is running.
func (s *Server) Start() {
	s.t.Helper()
	if s.running() {
		s.t.Fatalf("redistest: Start on %s: server is already running", s.Addr)
	}
	// The port was ours until Stop; retry briefly in case a client socket still holds it.
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.start()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redistest: restarting redis-server on %s: %v", s.Addr, err)
		}
		time.Sleep(20 * time.Millisecond) // polling the port, not waiting for an event
	}
}

// Stop shuts the server down gracefully (SIGTERM: the AOF is flushed when persisting),
// killing it if it has not exited within 10s. Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.stop(syscall.SIGTERM); err != nil {
		s.t.Fatalf("redistest: stopping redis-server on %s: %v", s.Addr, err)
	}
}

// Kill stops the server with SIGKILL, as a crash would. Stopping a stopped server does nothing.
func (s *Server) Kill() {
	s.t.Helper()
	if err := s.stop(syscall.SIGKILL); err != nil {
		s.t.Fatalf("redistest: killing redis-server on %s: %v", s.Addr, err)
	}
}

func (s *Server) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.proc != nil
}

// kill is the cleanup: it kills the process this Server started, if any.
func (s *Server) kill() {
	if err := s.stop(syscall.SIGKILL); err != nil {
		s.t.Errorf("redistest: cleanup of redis-server on %s: %v", s.Addr, err)
	}
}

// start launches redis-server on s.port and waits until it answers PING.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts++
	logPath := filepath.Join(s.dir, fmt.Sprintf("redis-%d.log", s.starts))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	argv := append(append(append([]string(nil), s.opts.Wrap...), s.bin), s.args()...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", s.bin, err)
	}
	p := &process{cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	if err := waitReady(p, s.Addr, s.opts.Password); err != nil {
		_ = cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%w\nredis-server log (%s):\n%s", err, logPath, tail(logPath))
	}
	s.proc = p
	return nil
}

// stop signals the running process, waits for it, and kills it after stopTimeout.
func (s *Server) stop(sig syscall.Signal) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	if sig == syscall.SIGKILL {
		return errors.New("process did not exit after SIGKILL")
	}
	return fmt.Errorf("no exit %v after SIGTERM, killed it; log:\n%s", stopTimeout, tail(p.log))
}

func (s *Server) args() []string {
	var args []string
	if s.opts.ConfigFile != "" {
		args = append(args, s.opts.ConfigFile)
	}
	args = append(args,
		"--port", strconv.Itoa(s.port),
		"--bind", s.opts.host(),
		"--dir", s.dir,
		"--daemonize", "no",
		"--save", "",
	)
	if s.opts.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	if s.opts.host() != "127.0.0.1" {
		args = append(args, "--protected-mode", "no")
	}
	return append(args, s.opts.Args...)
}

// binary finds redis-server.
func binary() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	const debian = "/usr/bin/redis-server"
	if _, err := os.Stat(debian); err == nil {
		return debian, nil
	}
	return "", errors.New("redis-server not found in PATH or at /usr/bin/redis-server; " +
		"install it with `make deps` (or `apt-get install -y redis-server`)")
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last few KiB of a log file, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(reading log: %v)", err)
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(bytes.TrimSpace(b))
}
