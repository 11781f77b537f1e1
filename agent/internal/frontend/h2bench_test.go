package frontend

import (
	"context"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// BenchmarkServer_HTTP2 is the HTTP/2 hot path end to end: GETs one at a time on one TLS
// connection (as h2load -m1 sends them), each served by h2conn, a lane and the fast path
// from a raw HTTP/1.1 backend on loopback. ns/op and allocs/op include the client's and
// the backend's share; the agent's own allocations are what `-memprofile` shows under
// frontend, h2conn and proxy.
func BenchmarkServer_HTTP2(b *testing.B) {
	be := newRawBackend(b)
	s := benchServer(b, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	h := dialH2(b, s.HTTPSAddr())
	h.c.SetDeadline(time.Time{})
	id := uint32(1)
	get := func(block []byte) {
		h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, EndStream: true, EndHeaders: true, BlockFragment: block})
		for {
			f, err := h.fr.ReadFrame()
			if err != nil {
				b.Fatalf("stream %d: %v", id, err)
			}
			if f.Header().StreamID == id && f.Header().Flags.Has(http2.FlagDataEndStream) {
				break // END_STREAM: on DATA or HEADERS alike
			}
		}
		id += 2
	}
	get(h.get())
	block := h.get() // every field indexed now: the same bytes each time
	b.ReportAllocs()
	for b.Loop() {
		get(block)
	}
}

// benchServer runs a Server on a loopback HTTPS listener serving u until b ends.
func benchServer(b *testing.B, u *edgeplanev1.ConfigUpdate) *Server {
	p, err := proxy.New(proxy.Config{})
	if err != nil {
		b.Fatal(err)
	}
	u.Revision, u.Snapshot = 1, true
	set, err := (*routeset.Set)(nil).Apply(u)
	if err != nil {
		b.Fatal(err)
	}
	tbl, err := p.Build(set)
	if err != nil {
		b.Fatal(err)
	}
	p.Swap(tbl)
	s := New(Config{Proxy: p, HTTPSAddr: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s.Shutdown(ctx)
		<-done
	})
	return s
}
