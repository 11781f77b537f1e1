package fanout

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// fullStatus has every field of Agent set; the test fails if a field is added to the message
// and not here.
func fullStatus(t *testing.T) *edgeplanev1.Agent {
	t.Helper()
	full := &edgeplanev1.Agent{
		NodeId: "n1", Labels: map[string]string{"zone": "a", "rack": "7"}, Version: "v1", Connected: true,
		AppliedRevision: 7, LastError: "bad", RejectedRevision: 8, LastSeen: timestamppb.Now(),
		Replica: "r1", ConfigHash: "h", ConnectTime: timestamppb.Now(),
		TargetHealth: []*edgeplanev1.TargetHealth{{Route: "web", Target: "http://x", Healthy: true}},
	}
	fields := full.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		if !full.ProtoReflect().Has(fields.Get(i)) {
			t.Fatalf("the test's status leaves field %s unset; set it (and write it in appendStatic or appendDynamic)", fields.Get(i).Name())
		}
	}
	return full
}

// decodeStatus encodes s's status seen at now as a flush does and decodes it.
func decodeStatus(t *testing.T, s *session, now *timestamppb.Timestamp) *edgeplanev1.Agent {
	t.Helper()
	b, err := s.appendStatus([]byte("prefix"), now)
	if err != nil {
		t.Fatal(err)
	}
	got := &edgeplanev1.Agent{}
	if err := proto.Unmarshal(b[len("prefix"):], got); err != nil {
		t.Fatal(err)
	}
	return got
}

// The status written to the store carries every field of Agent: a field added to the
// message is lost (and this fails) until appendStatic or appendDynamic writes it. Each field
// is written once: the decoded status equals the session's.
func TestSession_StatusEncodesEveryField(t *testing.T) {
	full := fullStatus(t)
	s := &session{status: proto.CloneOf(full)}
	now := timestamppb.New(time.Unix(1700000000, 123456789))
	got := decodeStatus(t, s, now)
	full.LastSeen = now
	if !proto.Equal(got, full) {
		t.Fatalf("got %v, want %v", got, full)
	}
	// As proto.Marshal would write it: the same size.
	b, _ := s.appendStatus(nil, now)
	if want := proto.Size(full); len(b) != want {
		t.Errorf("encoded %d bytes, proto.Marshal %d", len(b), want)
	}

	// Zero values (not connected, no revision, whole seconds) are left out, and decode to zero.
	zero := &edgeplanev1.Agent{NodeId: "n2"}
	s = &session{status: proto.CloneOf(zero)}
	now = timestamppb.New(time.Unix(1700000000, 0))
	got = decodeStatus(t, s, now)
	zero.LastSeen = now
	if !proto.Equal(got, zero) {
		t.Fatalf("got %v, want %v", got, zero)
	}
}

// The rarely changing part is kept between flushes: an ack changes only the other part, and
// an edit (a target health report, the session's end) has the whole status encoded again.
func TestSession_StatusFollowsAcksAndEdits(t *testing.T) {
	full := fullStatus(t)
	s := &session{status: proto.CloneOf(full)}
	now := timestamppb.New(time.Unix(1700000000, 5))
	decodeStatus(t, s, now)

	s.acked(9, "h9")
	full.AppliedRevision, full.ConfigHash, full.LastError, full.LastSeen = 9, "h9", "", now
	if got := decodeStatus(t, s, now); !proto.Equal(got, full) {
		t.Fatalf("after an ack: got %v, want %v", got, full)
	}

	th := []*edgeplanev1.TargetHealth{{Route: "api", Target: "http://y", Reason: "refused"}}
	s.edit(func(a *edgeplanev1.Agent) { a.TargetHealth = th })
	full.TargetHealth = th
	if got := decodeStatus(t, s, now); !proto.Equal(got, full) {
		t.Fatalf("after an edit: got %v, want %v", got, full)
	}

	s.edit(func(a *edgeplanev1.Agent) { a.Connected, a.TargetHealth = false, nil })
	full.Connected, full.TargetHealth = false, nil
	if got := decodeStatus(t, s, now); !proto.Equal(got, full) {
		t.Fatalf("after the end: got %v, want %v", got, full)
	}
}
