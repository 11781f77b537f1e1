package fanout

import (
	"fmt"
	"sync"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Encoded is a ControlMessage already in wire form. Every agent at the same revision gets the
// same update, so it is marshalled once and the bytes shared; the server's codec (see
// api.Codec) sends them as they are.
type Encoded struct {
	b []byte
}

// PreEncoded returns the wire bytes. They must not be modified.
func (e *Encoded) PreEncoded() []byte { return e.b }

// encoder caches the wire form of the latest shared update.
type encoder struct {
	mu  sync.Mutex // guards upd, enc
	upd *edgeplanev1.ConfigUpdate
	enc *Encoded
}

// encode returns u as an encoded ControlMessage, marshalling it only when u is not the
// update encoded last.
func (f *Fanout) encode(u *edgeplanev1.ConfigUpdate) (*Encoded, error) {
	e := &f.enc
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.upd != u {
		b, err := proto.Marshal(&edgeplanev1.ControlMessage{Kind: &edgeplanev1.ControlMessage_Update{Update: u}})
		if err != nil {
			return nil, fmt.Errorf("encoding revision %d: %w", u.GetRevision(), err)
		}
		e.upd, e.enc = u, &Encoded{b: b}
	}
	return e.enc, nil
}
