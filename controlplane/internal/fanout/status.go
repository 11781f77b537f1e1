package fanout

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// A status is written to the store in wire form as two parts one after the other: the fields
// that change rarely (the agent's identity, labels, replica, connect time, target health),
// encoded once and kept by the session until one of them changes, and the fields an ack
// changes (connected, revisions, error, last seen, config hash), encoded at each flush by
// appendDynamic without reflection or allocation. Every field is in exactly one part, so the
// concatenation decodes to the status itself (protobuf accepts fields in any order).
//
// Hot: once per flush per changed agent.

// Field numbers of edgeplane.v1.Agent written by appendDynamic (status_test.go checks them,
// and that the two parts cover every field, against the descriptor).
const (
	agentConnected        protowire.Number = 4
	agentAppliedRevision  protowire.Number = 5
	agentLastError        protowire.Number = 6
	agentRejectedRevision protowire.Number = 7
	agentLastSeen         protowire.Number = 8
	agentConfigHash       protowire.Number = 10
	timestampSeconds      protowire.Number = 1
	timestampNanos        protowire.Number = 2
)

// appendStatic appends the fields of a that appendDynamic does not write.
func appendStatic(b []byte, a *edgeplanev1.Agent) ([]byte, error) {
	return proto.MarshalOptions{}.MarshalAppend(b, &edgeplanev1.Agent{
		NodeId: a.GetNodeId(), Labels: a.GetLabels(), Version: a.GetVersion(), Replica: a.GetReplica(),
		ConnectTime: a.GetConnectTime(), TargetHealth: a.GetTargetHealth(),
	})
}

// appendDynamic appends the fields of a that an ack or a NACK changes, and last_seen, as
// proto.Marshal would (zero values left out).
func appendDynamic(b []byte, a *edgeplanev1.Agent) []byte {
	if a.GetConnected() {
		b = protowire.AppendTag(b, agentConnected, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	b = appendInt(b, agentAppliedRevision, a.GetAppliedRevision())
	b = appendString(b, agentLastError, a.GetLastError())
	b = appendInt(b, agentRejectedRevision, a.GetRejectedRevision())
	if t := a.GetLastSeen(); t != nil {
		b = protowire.AppendTag(b, agentLastSeen, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(timestampSize(t)))
		b = appendInt(b, timestampSeconds, t.GetSeconds())
		b = appendInt(b, timestampNanos, int64(t.GetNanos()))
	}
	return appendString(b, agentConfigHash, a.GetConfigHash())
}

func appendInt(b []byte, n protowire.Number, v int64) []byte {
	if v == 0 {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

func appendString(b []byte, n protowire.Number, v string) []byte {
	if v == "" {
		return b
	}
	b = protowire.AppendTag(b, n, protowire.BytesType)
	return protowire.AppendString(b, v)
}

// timestampSize is the encoded size of t's fields.
func timestampSize(t *timestamppb.Timestamp) int {
	n := 0
	if s := t.GetSeconds(); s != 0 {
		n += protowire.SizeTag(timestampSeconds) + protowire.SizeVarint(uint64(s))
	}
	if ns := t.GetNanos(); ns != 0 {
		n += protowire.SizeTag(timestampNanos) + protowire.SizeVarint(uint64(int64(ns)))
	}
	return n
}
