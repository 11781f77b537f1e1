package fanout

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// The status copy written to the store carries every field of Agent: a field added to the
// message fails here until snapshot copies it.
func TestSession_SnapshotCopiesEveryField(t *testing.T) {
	full := &edgeplanev1.Agent{
		NodeId: "n1", Labels: map[string]string{"zone": "a"}, Version: "v1", Connected: true,
		AppliedRevision: 7, LastError: "bad", RejectedRevision: 8, LastSeen: timestamppb.Now(),
		Replica: "r1", ConfigHash: "h", ConnectTime: timestamppb.Now(),
		TargetHealth: []*edgeplanev1.TargetHealth{{Route: "web", Target: "http://x", Healthy: true}},
	}
	fields := full.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if !full.ProtoReflect().Has(fields.Get(i)) {
			t.Fatalf("the test's status leaves field %s unset; set it (and copy it in snapshot)", fields.Get(i).Name())
		}
	}
	s := &session{status: proto.CloneOf(full)}
	got := s.snapshot()
	full.LastSeen = got.GetLastSeen()
	if !proto.Equal(got, full) {
		t.Fatalf("got snapshot %v, want %v", got, full)
	}
}
