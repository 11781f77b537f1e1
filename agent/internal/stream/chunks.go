package stream

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Bounds on a snapshot that arrives in chunks; see Config.
const (
	DefaultMaxSnapshotBytes = 512 << 20
	DefaultMaxChunks        = 2048
)

// assembly joins the chunks of one snapshot (ConfigUpdate.chunk_count) into one update. It
// holds at most one snapshot: a new first chunk drops one still incomplete, and chunks of any
// other revision are dropped. It belongs to one stream: a stream that breaks mid-sequence
// takes its partial snapshot with it.
type assembly struct {
	maxBytes  int
	maxChunks uint32

	u     *edgeplanev1.ConfigUpdate // the snapshot so far; nil when none is being assembled
	next  uint32                    // index of the chunk due next
	bytes int                       // encoded size of the chunks so far
}

// add takes one chunk. It returns the whole snapshot once its last chunk arrived; nil while
// more are due or when the chunk was dropped; an error (to Nack) when the chunk breaks a
// bound or the order, after which the rest of that snapshot's chunks are dropped.
func (a *assembly) add(c *edgeplanev1.ConfigUpdate) (*edgeplanev1.ConfigUpdate, error) {
	if c.GetChunkIndex() == 0 {
		a.u, a.next, a.bytes = nil, 0, 0
		if c.GetChunkCount() > a.maxChunks {
			return nil, fmt.Errorf("snapshot of revision %d comes in %d chunks, more than the %d this agent accepts",
				c.GetRevision(), c.GetChunkCount(), a.maxChunks)
		}
		a.u = &edgeplanev1.ConfigUpdate{Revision: c.GetRevision(), Snapshot: true, ChunkCount: c.GetChunkCount()}
	}
	if a.u == nil || c.GetRevision() != a.u.GetRevision() {
		return nil, nil // a stale revision, or the rest of a refused one
	}
	if c.GetChunkIndex() != a.next || c.GetChunkCount() != a.u.GetChunkCount() {
		err := fmt.Errorf("snapshot of revision %d: got chunk %d of %d, want chunk %d of %d",
			c.GetRevision(), c.GetChunkIndex(), c.GetChunkCount(), a.next, a.u.GetChunkCount())
		a.u = nil
		return nil, err
	}
	a.bytes += proto.Size(c)
	if a.bytes > a.maxBytes {
		a.u = nil
		return nil, fmt.Errorf("snapshot of revision %d is over the %d bytes this agent accepts", c.GetRevision(), a.maxBytes)
	}
	join(a.u, c)
	a.next++
	if a.next < a.u.GetChunkCount() {
		return nil, nil
	}
	u := a.u
	a.u, u.ChunkCount = nil, 0
	return u, nil
}

// reset drops a snapshot being assembled: an update that is not a chunk came between.
func (a *assembly) reset() { a.u = nil }

// join appends chunk c's items to u; the first telemetry settings and block encoding win.
func join(u, c *edgeplanev1.ConfigUpdate) {
	u.Routes = append(u.Routes, c.GetRoutes()...)
	u.Certificates = append(u.Certificates, c.GetCertificates()...)
	u.Challenges = append(u.Challenges, c.GetChallenges()...)
	u.Services = append(u.Services, c.GetServices()...)
	if u.Telemetry == nil {
		u.Telemetry = c.GetTelemetry()
	}
	if u.RequestBlockEncoding == "" {
		u.RequestBlockEncoding = c.GetRequestBlockEncoding()
	}
}
