package h2guard

import (
	"bytes"
	"io"
	"net"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// readConn is a net.Conn whose reads come from r.
type readConn struct {
	net.Conn
	r io.Reader
}

func (c readConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// requestStream is the preface, SETTINGS and n browser-like GETs (HPACK-indexed after the
// first), each followed by a WINDOW_UPDATE, as a client sends them.
func requestStream(n int) []byte {
	var b, hb bytes.Buffer
	b.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&b, nil)
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 20})
	enc := hpack.NewEncoder(&hb)
	fields := []string{":method", "GET", ":scheme", "https", ":authority", "app.test", ":path", "/assets/app.js",
		"user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
		"accept", "*/*", "accept-encoding", "gzip, deflate, br", "accept-language", "en-US,en;q=0.9",
		"cookie", "session=0123456789abcdef0123456789abcdef", "te", "trailers"}
	for i := range n {
		hb.Reset()
		for j := 0; j < len(fields); j += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[j], Value: fields[j+1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: uint32(2*i + 1), BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true})
		fr.WriteWindowUpdate(0, 1024)
	}
	return b.Bytes()
}

// BenchmarkConn_Read is the cost h2guard adds per request: reading a stream of requests
// raw and through Conn, as the HTTP/2 server's 4 KiB reads do.
func BenchmarkConn_Read(b *testing.B) {
	const n = 1000
	stream := requestStream(n)
	buf := make([]byte, 4096)
	for _, bc := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"raw", func(r io.Reader) io.Reader { return struct{ io.Reader }{r} }}, // no WriterTo shortcut
		{"h2guard", func(r io.Reader) io.Reader { return New(readConn{r: r}, 1<<20) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.CopyBuffer(io.Discard, bc.wrap(bytes.NewReader(stream)), buf); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/request")
		})
	}
}
