package h2conn

import (
	"bytes"
	"strconv"
	"testing"

	"golang.org/x/net/http2"
)

// writeResponse answers s with WriteResponse: status 200, body, ending the stream.
func writeResponse(s *Stream, body []byte) error {
	b := AppendStatus(AppendBlockStart(nil), 200)
	b = AppendField(b, "content-length", strconv.Itoa(len(body)))
	return s.WriteResponse(b, body, true)
}

// A small response is one HEADERS and one DATA frame ending the stream; an empty one a
// HEADERS frame ending it.
func TestStream_WriteResponseFrames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		frames []string
	}{
		{"small body", "hello", []string{"HEADERS", "DATA+END"}},
		{"empty body", "", []string{"HEADERS+END"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, Config{}, handlerFunc(func(s *Stream) { writeResponse(s, []byte(tc.body)) }))
			c.request(1, true)
			var got []string
			var body []byte
			for len(got) == 0 || !bytes.HasSuffix([]byte(got[len(got)-1]), []byte("+END")) {
				switch f := c.read().(type) {
				case *http2.MetaHeadersFrame:
					got = append(got, "HEADERS"+endMark(f.StreamEnded()))
				case *http2.DataFrame:
					got = append(got, "DATA"+endMark(f.StreamEnded()))
					body = append(body, f.Data()...)
				}
			}
			if string(body) != tc.body || len(got) != len(tc.frames) || got[0] != tc.frames[0] || got[len(got)-1] != tc.frames[len(tc.frames)-1] {
				t.Fatalf("got frames %v body %q, want %v %q", got, body, tc.frames, tc.body)
			}
		})
	}
}

func endMark(end bool) string {
	if end {
		return "+END"
	}
	return ""
}

// A body over the client's stream window is not sent past it: the rest waits for a
// WINDOW_UPDATE, as WriteData does.
func TestStream_WriteResponseWaitsForWindow(t *testing.T) {
	body := bytes.Repeat([]byte("y"), 100)
	c := serve(t, Config{}, handlerFunc(func(s *Stream) { writeResponse(s, body) }), http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
	c.request(1, true)
	got := 0
	for got < 10 {
		if d, ok := c.read().(*http2.DataFrame); ok {
			got += len(d.Data())
		}
	}
	c.noDataBeforePingAck(2)
	c.fr.WriteWindowUpdate(1, 90)
	for got < 100 {
		if d, ok := c.read().(*http2.DataFrame); ok {
			got += len(d.Data())
		}
	}
}

// A response to a stream the client reset is not written: ErrReset.
func TestStream_WriteResponseAfterReset(t *testing.T) {
	errc := make(chan error, 1)
	reset := make(chan struct{})
	c := serve(t, Config{}, handlerFunc(func(s *Stream) {
		<-reset
		for !s.IsReset() {
			s.AwaitReset(nil)
		}
		errc <- writeResponse(s, []byte("late"))
	}))
	c.request(1, false)
	c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
	close(reset)
	if err := <-errc; err != ErrReset {
		t.Fatalf("got %v, want ErrReset", err)
	}
	c.fr.WritePing(false, [8]byte{3})
	c.until("PING ACK", func(f http2.Frame) bool {
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			t.Fatalf("DATA on the reset stream")
		}
		p, ok := f.(*http2.PingFrame)
		return ok && p.IsAck()
	})
}
