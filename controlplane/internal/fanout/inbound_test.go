package fanout

import (
	"bytes"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// The field numbers written and read by hand are the descriptors' own.
func TestWireFieldNumbers(t *testing.T) {
	num := func(m proto.Message, name string) protowire.Number {
		f := m.ProtoReflect().Descriptor().Fields().ByName(protoreflect.Name(name))
		if f == nil {
			t.Fatalf("%T has no field %s", m, name)
		}
		return f.Number()
	}
	checks := []struct {
		got  protowire.Number
		m    proto.Message
		name string
	}{
		{agentMessageAck, &edgeplanev1.AgentMessage{}, "ack"},
		{ackRevision, &edgeplanev1.Ack{}, "revision"},
		{ackConfigHash, &edgeplanev1.Ack{}, "config_hash"},
		{agentConnected, &edgeplanev1.Agent{}, "connected"},
		{agentAppliedRevision, &edgeplanev1.Agent{}, "applied_revision"},
		{agentLastError, &edgeplanev1.Agent{}, "last_error"},
		{agentRejectedRevision, &edgeplanev1.Agent{}, "rejected_revision"},
		{agentLastSeen, &edgeplanev1.Agent{}, "last_seen"},
		{agentConfigHash, &edgeplanev1.Agent{}, "config_hash"},
	}
	for _, c := range checks {
		if want := num(c.m, c.name); c.got != want {
			t.Errorf("%T.%s: the code uses %d, the descriptor says %d", c.m, c.name, c.got, want)
		}
	}
}

// Every message decodes as proto.Unmarshal decodes it: Acks by hand into the reused message,
// the rest (another kind, extra or unknown fields, a repeated field, bad UTF-8, truncation)
// by proto.Unmarshal, which also refuses what it refuses.
func TestInbound_DecodesAsProto(t *testing.T) {
	enc := func(m *edgeplanev1.AgentMessage) []byte {
		b, err := proto.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ack := func(rev int64, hash string) []byte {
		return enc(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: rev, ConfigHash: hash}}})
	}
	raw := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	ackBody := func(body []byte) []byte {
		return protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), body)
	}
	cases := []struct {
		name string
		b    []byte
		fast bool // decoded by hand
	}{
		{"ack", ack(42, "abc123"), true},
		{"ack, same hash again", ack(43, "abc123"), true},
		{"ack without hash", ack(44, ""), true},
		{"ack of revision 0 (an empty store's snapshot)", ack(0, ""), true},
		{"ack with a large revision", ack(1<<62, "h"), true},
		{"ack with a negative revision", ack(-1, "h"), true},
		{"ack naming its revision twice: the last wins", ackBody(raw(
			protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5),
			protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 6))), true},
		{"hello", enc(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{NodeId: "n1", Revision: 3}}}), false},
		{"nack", enc(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Nack{Nack: &edgeplanev1.Nack{Revision: 3, Error: "bad"}}}), false},
		{"target health", enc(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_TargetHealth{TargetHealth: &edgeplanev1.TargetHealthReport{}}}), false},
		{"empty message", nil, false},
		{"ack with an unknown field", ackBody(protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)), false},
		{"ack then another field", raw(ack(5, "h"), protowire.AppendVarint(protowire.AppendTag(nil, 9, protowire.VarintType), 1)), false},
		{"ack twice (merged)", raw(ack(5, "h"), ack(6, "")), false},
		{"ack with a hash that is not UTF-8", ackBody(protowire.AppendBytes(protowire.AppendTag(nil, 2, protowire.BytesType), []byte{0xff, 0xfe})), false},
		{"truncated ack", ack(8, "abcdef")[:5], false},
		{"revision with the wrong wire type", ackBody(protowire.AppendBytes(protowire.AppendTag(nil, 1, protowire.BytesType), []byte("x"))), false},
	}
	var in receiver
	for _, c := range cases {
		want := &edgeplanev1.AgentMessage{}
		wantErr := proto.Unmarshal(c.b, want)
		err := in.DecodeWire(c.b)
		if (err != nil) != (wantErr != nil) {
			t.Errorf("%s: got error %v, proto.Unmarshal %v", c.name, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		got := in.message()
		if !proto.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", c.name, got, want)
		}
		if fast := in.ack; fast != c.fast {
			t.Errorf("%s: decoded by hand %v, want %v", c.name, fast, c.fast)
		}
	}
}

// An Ack decodes without allocating once its hash is known.
func TestInbound_AckDoesNotAllocate(t *testing.T) {
	b, err := proto.Marshal(&edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: 9, ConfigHash: "0123456789abcdef"}}})
	if err != nil {
		t.Fatal(err)
	}
	var in receiver
	if n := testing.AllocsPerRun(100, func() {
		if err := in.DecodeWire(b); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per Ack, want 0", n)
	}
}
