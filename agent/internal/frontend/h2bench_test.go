package frontend

import (
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// BenchmarkServer_HTTP2 is the HTTP/2 hot path end to end: GETs one at a time on one TLS
// connection (as h2load -m1 sends them), each served by h2conn, a lane and the fast path
// from a raw HTTP/1.1 backend on loopback. ns/op and allocs/op include the client's and
// the backend's share; the agent's own allocations are what `-memprofile` shows under
// frontend, h2conn and proxy.
func BenchmarkServer_HTTP2(b *testing.B) {
	be := newRawBackend(b)
	s := startLimits(b, proxy.Limits{}, Config{}, &edgeplanev1.ConfigUpdate{Routes: []*edgeplanev1.Route{route("app", "app.test", be.url())}})
	h := dialH2(b, s.HTTPSAddr())
	h.c.SetDeadline(time.Time{})
	h.fr.WriteWindowUpdate(0, 1<<30) // the responses' bodies never wait for a window
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
