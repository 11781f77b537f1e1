package e2e

import (
	"io"
	"net"
	"sync"
	"testing"
)

// partitionProxy is a TCP proxy the chaos suite puts between an agent and its control
// plane. Partition cuts every connection and black-holes new ones (accepted, never
// answered, as a dropped route would); Heal forwards again.
type partitionProxy struct {
	Addr   string
	target string
	ln     net.Listener

	mu    sync.Mutex // guards cut, conns
	cut   bool
	conns map[net.Conn]bool
}

func startPartitionProxy(t *testing.T, target string) *partitionProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &partitionProxy{Addr: ln.Addr().String(), target: target, ln: ln, conns: map[net.Conn]bool{}}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.Partition() })
	return p
}

func (p *partitionProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns[c] = true
		cut := p.cut
		p.mu.Unlock()
		if !cut {
			go p.forward(c)
		}
	}
}

func (p *partitionProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[up] = true
	p.mu.Unlock()
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// Partition closes every connection and black-holes new ones until Heal.
func (p *partitionProxy) Partition() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Heal forwards new connections again (black-holed ones stay dead).
func (p *partitionProxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}
