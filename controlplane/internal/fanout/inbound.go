package fanout

import (
	"context"
	"sync"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// receiver reads one agent's stream (see receive): each of the agent's messages is read into
// it (Stream.RecvMsg), where the server's codec (see api.Codec) hands it the wire bytes. An
// Ack, the message every agent sends for every change, is decoded by hand into ack, rev and
// hash, without allocating or building a message; anything else is decoded by
// proto.Unmarshal into a new message.
//
// Hot: once per agent per change. With 10,000 agents nothing of an agent's is in the CPU's
// cache when its Ack arrives, so the receiver is one cache line (64 bytes, the size class Go
// allocates it in) holding all it touches to handle an Ack: the lock, the message and the
// session (whose own hot fields take two more lines); no closure, no other object. What it
// holds of a message is valid until the next RecvMsg.
type receiver struct {
	// mu is held while a message is handled; ended (set under it when the session closes)
	// stops the handling of more.
	mu      sync.Mutex
	ended   bool
	renewed bool // the agent renewed its certificate on this stream (once per stream)

	ack   bool                      // the last message was a plain Ack: rev and hash hold it
	rev   int64                     // the Ack's revision
	hash  string                    // the Ack's config hash
	other *edgeplanev1.AgentMessage // the last message when it was not a plain Ack

	s *session // the agent's session, set once it opened
	f *Fanout
}

// DecodeWire decodes b, a wire-form AgentMessage, as proto.Unmarshal would.
func (r *receiver) DecodeWire(b []byte) error {
	if rev, hash, ok := parseAck(b); ok {
		r.ack, r.rev, r.other = true, rev, nil
		if string(hash) != r.hash { // compared without a copy; the same hash keeps its string
			r.hash = string(hash)
		}
		return nil
	}
	m := &edgeplanev1.AgentMessage{}
	if err := proto.Unmarshal(b, m); err != nil {
		return err
	}
	r.ack, r.other = false, m
	return nil
}

// message is the last message decoded, as a new message for a plain Ack (not the hot path:
// handle reads an Ack's rev and hash directly).
func (r *receiver) message() *edgeplanev1.AgentMessage {
	if !r.ack {
		return r.other
	}
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: r.rev, ConfigHash: r.hash}}}
}

// handle handles the message just read, or err, the read's error, for the open session. It
// returns false to stop reading: the session ended or failed.
func (r *receiver) handle(ctx context.Context, stream Stream, err error) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return false
	}
	switch {
	case err != nil:
	case r.ack:
		r.f.ack(ctx, r.s, r.rev, r.hash)
	default:
		err = r.f.handle(ctx, r.s, r.other, stream, &r.renewed)
	}
	if err != nil {
		r.s.fail(err)
		return false
	}
	return true
}

// end stops the handling of messages; one being handled finishes first.
func (r *receiver) end() {
	r.mu.Lock()
	r.ended = true
	r.mu.Unlock()
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
