package proxy

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// tcpPair returns the two ends of a loopback TCP connection, the first with raw I/O.
func tcpPair(t *testing.T) (raw net.Conn, peer net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer = <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	raw = rawConn(c)
	if _, ok := raw.(*rawTCP); !ok {
		t.Fatalf("rawConn(%T) = %T, want *rawTCP", c, raw)
	}
	t.Cleanup(func() { raw.Close(); peer.Close() })
	return raw, peer
}

// TestRawTCPCarriesBytes: a write larger than one system call's chunk and larger than the
// socket buffers arrives whole (the write waits on the netpoller when the buffer is full),
// reads return what the peer sent, and the peer closing is io.EOF.
func TestRawTCPCarriesBytes(t *testing.T) {
	raw, peer := tcpPair(t)
	out := bytes.Repeat([]byte("0123456789abcdef"), 3*rawChunk/16+5) // > 3 chunks
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(peer, int64(len(out))))
		got <- b
	}()
	n, err := raw.Write(out)
	if n != len(out) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(out))
	}
	if b := <-got; !bytes.Equal(b, out) {
		t.Fatalf("peer read %d bytes, not what was written (%d)", len(b), len(out))
	}

	if _, err := peer.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err = io.ReadAtLeast(raw, buf, 5)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %q, %v; want hello", buf[:n], err)
	}
	if n, err := raw.Read(nil); n != 0 || err != nil {
		t.Fatalf("Read(nil) = %d, %v; want 0, nil", n, err)
	}
	peer.Close()
	if n, err := raw.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("Read after the peer closed = %d, %v; want 0, EOF", n, err)
	}
}

// TestRawTCPDeadlineAndClose: a read past its deadline fails as a timeout (named "read" as
// net.Conn's would be), a read on a closed connection with net.ErrClosed, a read blocked
// when another goroutine closes the connection returns, and a write to a peer that reset
// the connection fails.
func TestRawTCPDeadlineAndClose(t *testing.T) {
	raw, peer := tcpPair(t)
	buf := make([]byte, 16)
	raw.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := raw.Read(buf)
	var oe *net.OpError
	if !isTimeout(err) || !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("Read past the deadline = %v; want a read timeout", err)
	}
	raw.SetReadDeadline(time.Time{})

	done := make(chan error, 1)
	go func() { _, err := raw.Read(buf); done <- err }()
	time.AfterFunc(20*time.Millisecond, func() { raw.Close() })
	if err := <-done; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read interrupted by Close = %v; want net.ErrClosed", err)
	}
	if _, err := raw.Read(buf); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v; want net.ErrClosed", err)
	}

	raw2, peer2 := tcpPair(t)
	peer2.(*net.TCPConn).SetLinger(0)
	peer2.Close() // RST
	_ = peer
	var werr error
	// The first writes may still be accepted before the reset arrives.
	waitfor.True(t, 5*time.Second, "a write to fail", func() bool {
		_, werr = raw2.Write([]byte("x"))
		return werr != nil
	})
	if !errors.As(werr, &oe) || oe.Op != "write" {
		t.Fatalf("Write to a reset connection = %v; want a write error", werr)
	}
}

// TestRawTCPConcurrentReadWrite: one goroutine reads while another writes (the watcher
// reads the client while relay writes to it); run with -race.
func TestRawTCPConcurrentReadWrite(t *testing.T) {
	raw, peer := tcpPair(t)
	go io.Copy(peer, peer) // echo
	const total = 1 << 20
	go func() {
		chunk := bytes.Repeat([]byte("x"), 4096)
		for sent := 0; sent < total; sent += len(chunk) {
			if _, err := raw.Write(chunk); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 8192)
	for got := 0; got < total; {
		n, err := raw.Read(buf)
		if err != nil {
			t.Fatalf("Read after %d bytes: %v", got, err)
		}
		got += n
	}
}

// TestRawTCPNoAllocs: a write and a read allocate nothing.
func TestRawTCPNoAllocs(t *testing.T) {
	raw, peer := tcpPair(t)
	go io.Copy(peer, peer)
	msg, buf := []byte("ping"), make([]byte, 64)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := raw.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(raw, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per write and read, want 0", allocs)
	}
}

// TestRawConnLeavesOthers: connections that are not plain TCP keep their own Read/Write.
func TestRawConnLeavesOthers(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := rawConn(a); got != a {
		t.Fatalf("rawConn(net.Pipe end) = %T, want it unchanged", got)
	}
}

// TestRawTCPWriteOnRead: the write a read makes first arrives and the read returns the
// answer; a write larger than the
// socket buffers (the send buffer fills inside the read) is finished and then the answer is
// read; a write to a reset connection fails with what sent reports; a read that times out
// before writing leaves the write not done.
func TestRawTCPWriteOnRead(t *testing.T) {
	raw, peer := tcpPair(t)
	r := raw.(*rawTCP)
	go func() { // answer every 4-byte request with its reverse
		b := make([]byte, 4)
		for {
			if _, err := io.ReadFull(peer, b); err != nil {
				return
			}
			peer.Write([]byte{b[3], b[2], b[1], b[0]})
		}
	}()
	buf := make([]byte, 64)
	for _, req := range []string{"abcd", "wxyz"} {
		r.writeOnRead([]byte(req))
		n, err := io.ReadAtLeast(raw, buf, 4)
		if err != nil || string(buf[:n]) != string([]byte{req[3], req[2], req[1], req[0]}) {
			t.Fatalf("Read after writeOnRead(%q) = %q, %v", req, buf[:n], err)
		}
		if n, done, err := r.sent(); n != 4 || !done || err != nil {
			t.Fatalf("sent() = %d, %v, %v; want 4, true, nil", n, done, err)
		}
	}

	big, bigPeer := tcpPair(t)
	out := bytes.Repeat([]byte("0123456789abcdef"), 3*rawChunk/16+5)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(bigPeer, int64(len(out))))
		bigPeer.Write([]byte(strconv.Itoa(len(b))))
	}()
	big.(*rawTCP).writeOnRead(out)
	big.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := big.Read(buf)
	if err != nil || string(buf[:n]) != strconv.Itoa(len(out)) {
		t.Fatalf("Read after a large writeOnRead = %q, %v; want the peer's count %d", buf[:n], err, len(out))
	}
	if n, done, err := big.(*rawTCP).sent(); n != len(out) || !done || err != nil {
		t.Fatalf("sent() = %d, %v, %v; want %d, true, nil", n, done, err, len(out))
	}

	reset, resetPeer := tcpPair(t)
	resetPeer.(*net.TCPConn).SetLinger(0)
	resetPeer.Close()
	var rerr error
	waitfor.True(t, 5*time.Second, "a write on read to fail", func() bool {
		reset.(*rawTCP).writeOnRead([]byte("x"))
		reset.SetReadDeadline(time.Now().Add(time.Second))
		_, rerr = reset.Read(buf)
		_, _, werr := reset.(*rawTCP).sent()
		return werr != nil
	})
	if rerr == nil {
		t.Fatal("Read after a failed write on read succeeded")
	}

	late, _ := tcpPair(t)
	late.SetReadDeadline(time.Now().Add(-time.Second))
	late.(*rawTCP).writeOnRead([]byte("x"))
	if _, err := late.Read(buf); !isTimeout(err) {
		t.Fatalf("Read past its deadline = %v; want a timeout", err)
	}
	if n, done, err := late.(*rawTCP).sent(); n != 0 || done || err != nil {
		t.Fatalf("sent() after a timeout before writing = %d, %v, %v; want 0, false, nil", n, done, err)
	}
}
