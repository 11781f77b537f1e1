package fanout

import (
	"errors"
	"fmt"
	"sync"

	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Encoded is a ControlMessage already in wire form. Every agent at the same revision gets the
// same update, so it is marshalled once and the bytes shared; the server's codec (see
// api.Codec) sends them as they are.
type Encoded struct {
	b  []byte
	bs mem.BufferSlice // b, as the codec hands it to gRPC: made once, not per send
}

func newEncoded(b []byte) *Encoded {
	return &Encoded{b: b, bs: mem.BufferSlice{mem.SliceBuffer(b)}}
}

// PreEncoded returns the wire bytes. They must not be modified.
func (e *Encoded) PreEncoded() []byte { return e.b }

// PreEncodedBuffers returns the wire bytes as a gRPC buffer slice, the same for every send (a
// SliceBuffer is not reference counted: freeing it after a send does nothing).
func (e *Encoded) PreEncodedBuffers() mem.BufferSlice { return e.bs }

// encoder caches the wire form of the latest shared update.
type encoder struct {
	mu  sync.Mutex // guards upd, enc, err
	upd *edgeplanev1.ConfigUpdate
	enc []*Encoded
	err error // errLargeDelta for upd, remembered so a fleet does not size it again
}

// errLargeDelta says a delta is too large for one message; send a snapshot, which may go in
// chunks, instead.
var errLargeDelta = errors.New("delta too large for one message")

// encode returns u as the encoded ControlMessages to send: one, or the chunks of a large
// snapshot. It marshals only when u is not the update encoded last. A delta larger than one
// message returns errLargeDelta.
func (f *Fanout) encode(u *edgeplanev1.ConfigUpdate) ([]*Encoded, error) {
	e := &f.enc
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.upd == u {
		return e.enc, e.err
	}
	parts := []*edgeplanev1.ConfigUpdate{u}
	if chunks := split(u, f.cfg.MaxMessageBytes, f.cfg.MaxMessageBytes/4); chunks != nil {
		if !u.GetSnapshot() {
			e.upd, e.enc, e.err = u, nil, fmt.Errorf("revision %d from %d: %w", u.GetRevision(), u.GetBaseRevision(), errLargeDelta)
			return nil, e.err
		}
		parts = chunks
	}
	enc := make([]*Encoded, len(parts))
	for i, p := range parts {
		b, err := proto.Marshal(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Update{Update: p}})
		if err != nil {
			return nil, fmt.Errorf("encoding revision %d: %w", u.GetRevision(), err)
		}
		enc[i] = newEncoded(b)
	}
	e.upd, e.enc, e.err = u, enc, nil
	return enc, nil
}
