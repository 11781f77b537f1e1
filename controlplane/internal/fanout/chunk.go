package fanout

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// DefaultMaxMessageBytes is the largest update sent as one message, as updates always were:
// every agent, including one that predates chunks, accepts it (gRPC's default receive limit
// is 4 MiB; the rest is room for the ControlMessage wrapper). A larger snapshot goes in chunks
// of at most a quarter of it, about 1 MiB (see ConfigUpdate.chunk_count).
const DefaultMaxMessageBytes = 4<<20 - 64<<10

// chunkBase is the base_revision of every chunk: no agent serves it, so an agent that does
// not know chunks refuses each one as a delta that does not fit, and never applies a part.
const chunkBase = -1

// split cuts snapshot u into chunks whose items (routes, certificates, challenges, services)
// add up to at most limit bytes each; an item larger than limit gets a chunk of its own. It
// returns nil when u fits in one message of at most whole bytes. u is not modified; the
// chunks share its items.
func split(u *edgeplanev1.ConfigUpdate, whole, limit int) []*edgeplanev1.ConfigUpdate {
	if proto.Size(u) <= whole {
		return nil
	}
	var chunks []*edgeplanev1.ConfigUpdate
	var cur *edgeplanev1.ConfigUpdate
	size := 0
	next := func(n int) *edgeplanev1.ConfigUpdate {
		if cur == nil || size+n > limit && size > 0 {
			cur = &edgeplanev1.ConfigUpdate{Revision: u.GetRevision(), BaseRevision: chunkBase,
				ChunkIndex: uint32(len(chunks))}
			chunks = append(chunks, cur)
			size = 0
		}
		size += n
		return cur
	}
	for _, c := range u.GetCertificates() {
		c2 := next(itemSize(c))
		c2.Certificates = append(c2.Certificates, c)
	}
	for _, s := range u.GetServices() {
		c := next(itemSize(s))
		c.Services = append(c.Services, s)
	}
	for _, ch := range u.GetChallenges() {
		c := next(itemSize(ch))
		c.Challenges = append(c.Challenges, ch)
	}
	for _, r := range u.GetRoutes() {
		c := next(itemSize(r))
		c.Routes = append(c.Routes, r)
	}
	if len(chunks) == 0 { // nothing but settings: cannot be this large, but send something
		next(0)
	}
	chunks[0].Telemetry = u.GetTelemetry()
	chunks[0].RequestBlockEncoding = u.GetRequestBlockEncoding()
	for _, c := range chunks {
		c.ChunkCount = uint32(len(chunks))
	}
	return chunks
}

// itemSize is the encoded size of m as an element of a repeated field.
func itemSize(m proto.Message) int {
	n := proto.Size(m)
	return 1 + protowire.SizeVarint(uint64(n)) + n
}
