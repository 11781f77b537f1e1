package fanout

import (
	"fmt"
	"testing"
)

// The broadcaster walks every session once, one connection's after another, and a session
// leaves its connection's group when it closes or is superseded.
func TestFanout_SessionsByConn(t *testing.T) {
	f := New(Config{})
	var cancelled []string
	add := func(node, conn string) *session {
		t.Helper()
		s := &session{node: node, cancel: func(error) { cancelled = append(cancelled, node+"@"+conn) }}
		if err := f.register(s, conn); err != nil {
			t.Fatal(err)
		}
		return s
	}
	conns := []string{"10.0.0.1:1000", "10.0.0.1:1001", "10.0.0.2:1000"}
	for i := range 30 {
		add(fmt.Sprintf("n%d", i), conns[i%len(conns)]) // registered interleaved
	}
	walk := func() []*session {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.appendByConnLocked(nil)
	}
	check := func(want int) {
		t.Helper()
		all := walk()
		if len(all) != want {
			t.Fatalf("walked %d sessions, want %d", len(all), want)
		}
		seen, done := map[*session]bool{}, map[string]bool{}
		prev := ""
		for _, s := range all {
			if seen[s] {
				t.Fatalf("%s walked twice", s.node)
			}
			seen[s] = true
			if f.sessions[s.node] != s {
				t.Errorf("walked %s, which is not its node's session", s.node)
			}
			conn := f.connOf[s]
			if conn != prev {
				if done[conn] {
					t.Errorf("connection %s's sessions are not walked together", conn)
				}
				done[prev], prev = true, conn
			}
		}
		if len(f.connOf) != want || len(f.sessions) != want {
			t.Errorf("%d sessions and %d connection entries, want %d", len(f.sessions), len(f.connOf), want)
		}
	}
	check(30)

	// n0 reconnects on another connection: the old session is cancelled and walked no more.
	old := f.sessions["n0"]
	renewed := add("n0", conns[1])
	if len(cancelled) != 1 {
		t.Fatalf("cancelled %v, want the old n0", cancelled)
	}
	check(30)
	f.unregister(old) // the old stream ends after: nothing changes
	check(30)

	// Every session of a connection closes: the connection's group goes.
	for _, s := range walk() {
		if f.connOf[s] == conns[2] {
			f.unregister(s)
		}
	}
	check(20)
	if _, ok := f.conns[conns[2]]; ok {
		t.Errorf("connection %s still has a group with no session", conns[2])
	}
	f.unregister(renewed)
	check(19)
}
