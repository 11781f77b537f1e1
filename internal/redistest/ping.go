package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// waitReady polls addr until the server answers PING with +PONG, the process exits, or
// startTimeout passes. A server still loading its AOF answers -LOADING and is polled again.
func waitReady(p *process, addr, password string) error {
	deadline := time.Now().Add(startTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("redis-server exited during startup (%v)", p.cmd.ProcessState)
		default:
		}
		if lastErr = ping(addr, password); lastErr == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no PONG from %s within %v: %w", addr, startTimeout, lastErr)
}

// ping sends AUTH (when password is set) and PING as RESP commands on a new connection and
// expects +OK and +PONG.
func ping(addr, password string) error {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(conn)
	if password != "" {
		if err := roundTrip(conn, r, "+OK", "AUTH", password); err != nil {
			return err
		}
	}
	return roundTrip(conn, r, "+PONG", "PING")
}

func roundTrip(conn net.Conn, r *bufio.Reader, want string, args ...string) error {
	if _, err := conn.Write(command(args...)); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got := strings.TrimRight(line, "\r\n"); got != want {
		return errors.New("reply to " + args[0] + ": " + got)
	}
	return nil
}

// command encodes args as a RESP array of bulk strings.
func command(args ...string) []byte {
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}
