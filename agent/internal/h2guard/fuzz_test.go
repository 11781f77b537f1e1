package h2guard

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"

	"golang.org/x/net/http2"
)

// FuzzConn: whatever a client sends, Conn neither panics nor depends on how the bytes are
// read: one byte per Read and 4 KiB per Read give the same stream.
func FuzzConn(f *testing.F) {
	f.Add(requestStream(3)[len(http2.ClientPreface):])
	f.Add([]byte("\x00\x00\x0c\x04\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x64\x00\x04\x00\x00\x00\x01"))
	f.Add([]byte("\x00\x00\x05\x01\x0d\x00\x00\x00\x01\x02\x82\x84\x00\x00")) // padded, END_HEADERS
	f.Fuzz(func(t *testing.T, frames []byte) {
		in := append([]byte(http2.ClientPreface), frames...)
		small, err := io.ReadAll(iotest.OneByteReader(New(readConn{r: bytes.NewReader(in)}, 1<<10)))
		if err != nil && err != io.ErrUnexpectedEOF {
			t.Fatal(err)
		}
		large := make([]byte, 0, len(in))
		g, buf := New(readConn{r: bytes.NewReader(in)}, 1<<10), make([]byte, 4096)
		for {
			n, err := g.Read(buf)
			large = append(large, buf[:n]...)
			if err != nil {
				break
			}
		}
		if !bytes.Equal(small, large) {
			t.Fatalf("one-byte reads gave % x\n4 KiB reads gave % x", small, large)
		}
	})
}
