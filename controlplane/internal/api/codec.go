package api

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// preEncoded is a message already in wire form, such as fanout.Encoded.
type preEncoded interface {
	PreEncoded() []byte
}

// preEncodedBuffers is a message already in wire form that also holds it as the buffer slice
// Marshal returns, sparing a send the allocations of wrapping the bytes.
type preEncodedBuffers interface {
	PreEncodedBuffers() mem.BufferSlice
}

// wireDecoder decodes itself from wire bytes, such as the message a fanout session reuses for
// every agent message it receives.
type wireDecoder interface {
	DecodeWire(b []byte) error
}

// Codec is the server's codec: protobuf, except that messages already encoded (one config
// update shared by thousands of agents) are sent as they are, and a message that decodes
// itself (an agent's Ack into a reused message) is handed the bytes. Install it with
// grpc.ForceServerCodecV2(api.Codec()).
func Codec() encoding.CodecV2 {
	return codec{encoding.GetCodecV2(proto.Name)}
}

type codec struct{ proto encoding.CodecV2 }

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if p, ok := v.(preEncodedBuffers); ok {
		return p.PreEncodedBuffers(), nil
	}
	if p, ok := v.(preEncoded); ok {
		return mem.BufferSlice{mem.SliceBuffer(p.PreEncoded())}, nil
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	if d, ok := v.(wireDecoder); ok {
		buf := data.MaterializeToBuffer(mem.DefaultBufferPool()) // no copy for one buffer
		defer buf.Free()
		return d.DecodeWire(buf.ReadOnlyData())
	}
	return c.proto.Unmarshal(data, v)
}

func (c codec) Name() string { return proto.Name }
