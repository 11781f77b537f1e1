package api

import (
	"bytes"
	"testing"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

type decoder struct{ got []byte }

func (d *decoder) DecodeWire(b []byte) error { d.got = append([]byte(nil), b...); return nil }

type encoded []byte

func (e encoded) PreEncoded() []byte { return e }

type buffered struct{ encoded }

func (b buffered) PreEncodedBuffers() mem.BufferSlice {
	return mem.BufferSlice{mem.SliceBuffer(b.encoded)}
}

// A message that decodes itself gets the whole message's bytes, even when they arrived in
// several buffers; any other message is decoded by protobuf; pre-encoded bytes go out as they
// are.
func TestCodec_DecodersAndPreEncoded(t *testing.T) {
	c := Codec()
	msg := &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: 7, ConfigHash: "h"}}}
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	split := mem.BufferSlice{mem.SliceBuffer(b[:3]), mem.SliceBuffer(b[3:])}
	var d decoder
	if err := c.Unmarshal(split, &d); err != nil || !bytes.Equal(d.got, b) {
		t.Errorf("decoder: got %x, %v; want %x", d.got, err, b)
	}
	var m edgeplanev1.AgentMessage
	if err := c.Unmarshal(split, &m); err != nil || !proto.Equal(&m, msg) {
		t.Errorf("protobuf: got %v, %v; want %v", &m, err, msg)
	}
	for _, v := range []any{encoded(b), buffered{encoded(b)}} {
		out, err := c.Marshal(v)
		if err != nil || !bytes.Equal(out.Materialize(), b) {
			t.Errorf("pre-encoded %T: got %x, %v; want %x", v, out.Materialize(), err, b)
		}
	}
}
