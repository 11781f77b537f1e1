package h2guard

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// What a server's Framer reads through Conn, one byte per Read: clean blocks decode as sent
// (the HPACK state stays in step, indexed fields included), a malformed one is a stream
// error PROTOCOL_ERROR on its stream only, and a SETTINGS frame loses its repeats.
func TestConn_FramerReadsThrough(t *testing.T) {
	var b, hb bytes.Buffer
	b.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&b, nil)
	enc := hpack.NewEncoder(&hb)
	block := func(fields ...string) []byte {
		hb.Reset()
		for i := 0; i < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return bytes.Clone(hb.Bytes())
	}
	get := []string{":method", "GET", ":scheme", "https", ":path", "/", ":authority", "a.test", "x-id", "1"}
	fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100}, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1})
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block(get...), EndStream: true, EndHeaders: true})
	bad := block(append(get, "te", "gzip")...)
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: bad[:4], EndStream: true, PadLength: 3})
	fr.WriteContinuation(3, true, bad[4:])
	fr.WriteData(1, true, []byte("passes"))
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 5, BlockFragment: block(get...), EndStream: true, EndHeaders: true})

	r := iotest.OneByteReader(New(readConn{r: &b}, 1<<10))
	p := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(r, p); err != nil || string(p) != http2.ClientPreface {
		t.Fatalf("preface %q, %v", p, err)
	}
	sr := http2.NewFramer(nil, r)
	sr.ReadMetaHeaders = hpack.NewDecoder(HeaderTableSize, nil)
	want := []string{"SETTINGS [INITIAL_WINDOW_SIZE = 1]", "HEADERS 1 " + join(get), "stream error 3 PROTOCOL_ERROR", "DATA 1 passes", "HEADERS 5 " + join(get)}
	for _, w := range want {
		f, err := sr.ReadFrame()
		if got := describe(f, err); got != w {
			t.Errorf("got %s, want %s", got, w)
		}
	}
	if _, err := sr.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want EOF", err)
	}
}

func join(fields []string) string {
	var b bytes.Buffer
	for i := 0; i < len(fields); i += 2 {
		b.WriteString(fields[i] + "=" + fields[i+1] + " ")
	}
	return b.String()
}

func describe(f http2.Frame, err error) string {
	var se http2.StreamError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("stream error %d %v", se.StreamID, se.Code)
	case err != nil:
		return "error " + err.Error()
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		var s []string
		f.ForeachSetting(func(x http2.Setting) error { s = append(s, x.String()); return nil })
		return "SETTINGS " + strings.Join(s, " ")
	case *http2.MetaHeadersFrame:
		var fs []string
		for _, hf := range f.Fields {
			fs = append(fs, hf.Name, hf.Value)
		}
		return fmt.Sprintf("HEADERS %d %s", f.StreamID, join(fs))
	case *http2.DataFrame:
		return fmt.Sprintf("DATA %d %s", f.StreamID, f.Data())
	}
	return f.Header().String()
}
