package fanout

import (
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// inbound is what a session's receiver reads each of the agent's messages into
// (Stream.RecvMsg). The server's codec (see api.Codec) hands it the wire bytes: an Ack, the
// message every agent sends for every change, is decoded by hand into ack, rev and hash,
// without allocating or building a message; anything else is decoded by proto.Unmarshal into
// a new message. The struct is small (one cache line): with 10,000 agents it is not in the
// CPU's cache when an Ack arrives.
//
// Hot: once per agent per change. What it holds is valid until the next RecvMsg.
type inbound struct {
	ack   bool                      // the last message was a plain Ack: rev and hash hold it
	rev   int64                     // the Ack's revision
	hash  string                    // the Ack's config hash
	other *edgeplanev1.AgentMessage // the last message when it was not a plain Ack
}

// DecodeWire decodes b, a wire-form AgentMessage, as proto.Unmarshal would.
func (in *inbound) DecodeWire(b []byte) error {
	if rev, hash, ok := parseAck(b); ok {
		in.ack, in.rev, in.other = true, rev, nil
		if string(hash) != in.hash { // compared without a copy; the same hash keeps its string
			in.hash = string(hash)
		}
		return nil
	}
	m := &edgeplanev1.AgentMessage{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	in.ack, in.other = false, m
	return nil
}

// message is the last message decoded, as a new message for a plain Ack (not the hot path:
// the session's handler reads an Ack's rev and hash directly).
func (in *inbound) message() *edgeplanev1.AgentMessage {
	if !in.ack {
		return in.other
	}
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: in.rev, ConfigHash: in.hash}}}
}

// Field numbers parseAck reads (inbound_test.go checks them against the descriptors).
const (
	agentMessageAck protowire.Number = 2
	ackRevision     protowire.Number = 1
	ackConfigHash   protowire.Number = 2
)

// parseAck reads b as an AgentMessage holding only an Ack with a revision and a config hash
// (either may be absent). ok is false for anything else (another kind, an unknown field,
// malformed or non-UTF-8 input): proto.Unmarshal then decides.
func parseAck(b []byte) (rev int64, hash []byte, ok bool) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num != agentMessageAck || typ != protowire.BytesType {
		return 0, nil, false
	}
	body, m := protowire.ConsumeBytes(b[n:])
	if m < 0 || n+m != len(b) {
		return 0, nil, false
	}
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			return 0, nil, false
		}
		body = body[n:]
		switch {
		case num == ackRevision && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(body)
			if n < 0 {
				return 0, nil, false
			}
			rev, body = int64(v), body[n:]
		case num == ackConfigHash && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(body)
			if n < 0 {
				return 0, nil, false
			}
			hash, body = v, body[n:]
		default:
			return 0, nil, false
		}
	}
	if !utf8.Valid(hash) {
		return 0, nil, false
	}
	return rev, hash, true
}
