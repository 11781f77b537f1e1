package redistest

import (
	"bufio"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// do sends one command and returns the first reply line, e.g. "+OK" or "$3".
func do(t *testing.T, addr string, args ...string) string {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write(command(args...)); err != nil {
		t.Fatalf("write %v: %v", args, err)
	}
	r := bufio.NewReader(conn)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read reply to %v: %v", args, err)
	}
	return reply(t, r, strings.TrimRight(line, "\r\n"))
}

// reply reads the rest of a reply whose first line is line: a bulk string's value, or an
// array of bulk strings joined by spaces. Other replies are the line itself.
func reply(t *testing.T, r *bufio.Reader, line string) string {
	t.Helper()
	next := func() string {
		s, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read reply: %v", err)
		}
		return strings.TrimRight(s, "\r\n")
	}
	switch {
	case line == "$-1" || line == "*-1":
		return line
	case strings.HasPrefix(line, "$"):
		return next()
	case strings.HasPrefix(line, "*"):
		n, _ := strconv.Atoi(line[1:])
		elems := make([]string, n)
		for i := range elems {
			elems[i] = reply(t, r, next())
		}
		return strings.Join(elems, " ")
	}
	return line
}

func TestNew_AnswersPing(t *testing.T) {
	t.Parallel()
	srv := New(t)
	if got := do(t, srv.Addr, "PING"); got != "+PONG" {
		t.Errorf("PING: got %q, want +PONG", got)
	}
	if want := fmt.Sprintf("redis://127.0.0.1:%d", srv.Port()); srv.URL() != want {
		t.Errorf("URL: got %q, want %q", srv.URL(), want)
	}
	if got := do(t, srv.Addr, "CONFIG", "GET", "appendonly"); got != "appendonly no" {
		t.Errorf("CONFIG GET appendonly: got %q, want \"appendonly no\"", got)
	}
	if got := do(t, srv.Addr, "CONFIG", "GET", "save"); got != "save " {
		t.Errorf("CONFIG GET save: got %q, want \"save \" (no snapshots)", got)
	}
}

func TestNew_ServersAreIndependent(t *testing.T) {
	t.Parallel()
	a, b := New(t), New(t)
	if a.Addr == b.Addr {
		t.Fatalf("two servers share %s", a.Addr)
	}
	do(t, a.Addr, "SET", "k", "a")
	if got := do(t, b.Addr, "GET", "k"); got != "$-1" {
		t.Errorf("GET k on the other server: got %q, want $-1 (nil)", got)
	}
}

func TestServer_RestartKeepsPort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		opts    Options
		stop    func(*Server)
		wantGet string
	}{
		{"memory stop", Options{}, (*Server).Stop, "$-1"},
		{"persist stop", Options{Persist: true}, (*Server).Stop, "v"},
		{"persist kill", Options{Persist: true}, (*Server).Kill, "v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := NewWithOptions(t, tt.opts)
			addr := srv.Addr
			if got := do(t, addr, "SET", "k", "v"); got != "+OK" {
				t.Fatalf("SET: got %q, want +OK", got)
			}
			tt.stop(srv)
			if err := ping(addr, ""); err == nil {
				t.Fatalf("PING after stop succeeded, want the server down")
			}
			tt.stop(srv) // stopping twice is a no-op
			srv.Start()
			if srv.Addr != addr {
				t.Errorf("Addr after restart: got %s, want %s", srv.Addr, addr)
			}
			if got := do(t, addr, "GET", "k"); got != tt.wantGet {
				t.Errorf("GET k after restart: got %q, want %q", got, tt.wantGet)
			}
		})
	}
}

func TestNewWithOptions_Password(t *testing.T) {
	t.Parallel()
	srv := NewWithOptions(t, Options{Password: "s3cret pw"})
	if got := do(t, srv.Addr, "PING"); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("PING without AUTH: got %q, want -NOAUTH", got)
	}
	if err := ping(srv.Addr, "s3cret pw"); err != nil {
		t.Errorf("PING with AUTH: %v", err)
	}
	if want := fmt.Sprintf("redis://:s3cret%%20pw@127.0.0.1:%d", srv.Port()); srv.URL() != want {
		t.Errorf("URL: got %q, want %q", srv.URL(), want)
	}
}

func TestNewWithOptions_Args(t *testing.T) {
	t.Parallel()
	srv := NewWithOptions(t, Options{Args: []string{"--databases", "3"}})
	if got := do(t, srv.Addr, "SELECT", "3"); !strings.HasPrefix(got, "-ERR") {
		t.Errorf("SELECT 3 with 3 databases: got %q, want an error", got)
	}
}

func TestCleanup_KillsServer(t *testing.T) {
	t.Parallel()
	var addr string
	t.Run("inner", func(t *testing.T) {
		addr = New(t).Addr
	})
	if err := ping(addr, ""); err == nil {
		t.Errorf("server on %s still answers after its test's cleanup", addr)
	}
}

func TestNew_BadArgsFailsWithLog(t *testing.T) {
	t.Parallel()
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		NewWithOptions(ft, Options{Args: []string{"--no-such-option", "x"}})
	}()
	<-done
	if !strings.Contains(ft.msg, "redis-server log") || !strings.Contains(ft.msg, "no-such-option") {
		t.Errorf("failure message does not quote the server's log:\n%s", ft.msg)
	}
}

// fatalRecorder records Fatalf instead of failing the real test. Fatalf ends the calling
// goroutine, as testing.T's does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
