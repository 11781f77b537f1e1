package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// rawTLSPair returns a rawTCP over the server side of a loopback TCP connection and the client
// side.
func rawTLSPair(t *testing.T) (*rawTCP, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := rawConn(server).(*rawTCP)
	if !ok {
		t.Fatal("a TCP connection was not wrapped")
	}
	t.Cleanup(func() { r.Close(); client.Close() })
	return r, client
}

// Data that arrives after a short read (one that drained the socket) is read by the next
// Read: the read tries the socket before waiting for the netpoller (whose readiness each
// Read resets).
func TestRawTLSReadAfterShortRead(t *testing.T) {
	r, client := rawTLSPair(t)
	buf := make([]byte, 4096)
	for i, msg := range []string{"first", "second", "third"} {
		if _, err := client.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		// Not a synchronization: the pause lets the netpoller take the arrival's event
		// before the Read, the order in which a read that waited first would miss it.
		time.Sleep(10 * time.Millisecond)
		r.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got []byte
		for len(got) < len(msg) {
			n, err := r.Read(buf)
			if err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			got = append(got, buf[:n]...)
		}
		if string(got) != msg {
			t.Fatalf("read %d: %q, want %q", i, got, msg)
		}
	}
}

// A read deadline ends a waiting read with a net.Error whose Timeout is true; the peer's
// close is io.EOF; a read on the closed connection is net.ErrClosed.
func TestRawTLSReadErrors(t *testing.T) {
	r, client := rawTLSPair(t)
	r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := r.Read(make([]byte, 10))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past the deadline: %v, want a timeout", err)
	}
	r.SetReadDeadline(time.Time{})
	client.Close()
	if _, err := r.Read(make([]byte, 10)); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want io.EOF", err)
	}
	r.Close()
	if _, err := r.Read(make([]byte, 10)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read on a closed connection: %v, want net.ErrClosed", err)
	}
	if _, err := r.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write on a closed connection: %v, want net.ErrClosed", err)
	}
}

// A write larger than the socket's send buffer and than one system call's chunk waits for
// the netpoller while the peer reads, and arrives whole; a write deadline ends a write the
// peer never reads.
func TestRawTLSWriteLarge(t *testing.T) {
	r, client := rawTLSPair(t)
	client.(*net.TCPConn).SetReadBuffer(64 << 10) // small buffers: the write must wait
	r.Conn.(*net.TCPConn).SetWriteBuffer(64 << 10)
	data := bytes.Repeat([]byte("0123456789abcdef"), (4<<20)/16)
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(client, int64(len(data))))
		got <- b
	}()
	r.SetWriteDeadline(time.Now().Add(10 * time.Second))
	n, err := r.Write(data)
	if err != nil || n != len(data) {
		t.Fatalf("write: %d, %v", n, err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the peer read %d bytes, not what was written", len(b))
	}
	r.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
	_, err = r.Write(data) // nobody reads
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("write past the deadline: %v, want a timeout", err)
	}
}

// Only plain TCP connections are wrapped.
func TestRawTLSOnlyTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if c := rawConn(a); c != a {
		t.Fatalf("a pipe was wrapped: %T", c)
	}
}
