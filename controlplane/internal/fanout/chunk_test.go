package fanout_test

import (
	"fmt"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// chunkRig is a rig whose updates over 4,000 bytes go in chunks of at most 1,000.
func chunkRig(t *testing.T) *rig {
	return newRig(t, func(c *fanout.Config) { c.MaxMessageBytes = 4000 })
}

// putMany commits n routes named prefix-000... and returns their names and the last revision.
func (r *rig) putMany(t *testing.T, prefix string, n int) ([]string, int64) {
	t.Helper()
	var names []string
	var rev int64
	for i := range n {
		name := fmt.Sprintf("%s-%03d", prefix, i)
		names = append(names, name)
		rev = r.put(t, name)
	}
	return names, rev
}

// chunks reads one chunked snapshot of rev and checks the chunks' shape: base -1, not marked
// snapshot, indexes in order, each within the chunk bound. It returns the routes joined.
func (a *agent) chunks(t *testing.T, rev int64, limit int) []string {
	t.Helper()
	var names []string
	for i := uint32(0); ; i++ {
		c := a.next(t)
		if c.GetRevision() != rev || c.GetChunkIndex() != i || c.GetChunkCount() < 2 {
			t.Fatalf("got update rev=%d chunk %d of %d, want rev=%d chunk %d of at least 2",
				c.GetRevision(), c.GetChunkIndex(), c.GetChunkCount(), rev, i)
		}
		if c.GetSnapshot() || c.GetBaseRevision() != -1 {
			t.Fatalf("got chunk with snapshot=%v base=%d, want false and -1 (old agents refuse it)", c.GetSnapshot(), c.GetBaseRevision())
		}
		if n := proto.Size(&edgeplanev1.ConfigUpdate{Routes: c.GetRoutes()}); n > limit {
			t.Fatalf("chunk %d holds %d bytes of routes, want at most %d", i, n, limit)
		}
		names = append(names, routeNames(c)...)
		if i+1 == c.GetChunkCount() {
			return names
		}
	}
}

func TestServe_SnapshotOverMessageLimitGoesInChunks(t *testing.T) {
	r := chunkRig(t)
	names, rev := r.putMany(t, "route", 150)
	a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
	if got := a.chunks(t, rev, 1000); !slices.Equal(got, names) {
		t.Fatalf("joined chunks hold routes %v, want %v", got, names)
	}
	a.ack(rev)
	rev2 := r.put(t, "route-new")
	u := a.next(t)
	want(t, u, rev2, false, rev, "route-new")
	if u.GetChunkCount() != 0 {
		t.Fatalf("got a small delta as chunk_count %d, want 0 (whole)", u.GetChunkCount())
	}
}

func TestServe_SmallUpdateGoesWhole(t *testing.T) {
	r := chunkRig(t)
	rev := r.put(t, "a")
	u := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"}).next(t)
	want(t, u, rev, false, 0, "a") // a delta from the empty revision 0
	if u.GetChunkCount() != 0 {
		t.Fatalf("got chunk_count %d, want 0 (whole)", u.GetChunkCount())
	}
}

func TestServe_DeltaOverMessageLimitBecomesChunkedSnapshot(t *testing.T) {
	r := chunkRig(t)
	first := r.put(t, "a")
	names, rev := r.putMany(t, "route", 150)
	a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1", Revision: first})
	if got, want := a.chunks(t, rev, 1000), append([]string{"a"}, names...); !slices.Equal(got, want) {
		t.Fatalf("joined chunks hold routes %v, want %v", got, want)
	}
}

func TestServe_NackedChunkedSnapshotIsNotResent(t *testing.T) {
	r := chunkRig(t)
	_, rev := r.putMany(t, "route", 150)
	a := r.connect(t, &edgeplanev1.Hello{NodeId: "n1"})
	a.chunks(t, rev, 1000)
	a.nack(rev, "too large")
	r.status(t, "n1", func(s *edgeplanev1.Agent) bool { return s.GetRejectedRevision() == rev })
	rev2 := r.put(t, "route-new")
	if got := a.chunks(t, rev2, 1000); len(got) != 151 {
		t.Fatalf("got a snapshot of %d routes after the Nack, want 151", len(got))
	}
}
