package telemetry

import (
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// Request records are many to a stream entry (requestlog.BlockField, or ZBlockField
// compressed). The telemetry queries work on records: each record is shown as a message of
// its own, with its record id (requestlog.Ref.ID: the entry's id with the record's place
// folded into the sequence) and the values of one compact record. An entry of one record
// (an older agent's) is the record at place 0.

// explode returns the records of a request stream entry as messages, in stream order.
func explode(m redis.XMessage) []redis.XMessage {
	ref, ok := requestlog.EntryRef(m.ID, 0)
	if !ok {
		return nil
	}
	s, isBlock, err := requestlog.BlockText(m.Values)
	if !isBlock || err != nil {
		// One record, or a block that does not decompress: shown as it is, one message,
		// which reads as malformed where it is parsed.
		return []redis.XMessage{{ID: ref.ID(), Values: m.Values}}
	}
	n := strings.Count(s, "\n") + 1
	out := make([]redis.XMessage, 0, n)
	for i := 0; i < n && i < 1<<16; i++ {
		line := s
		if j := strings.IndexByte(s, '\n'); j >= 0 {
			line, s = s[:j], s[j+1:]
		}
		ref.Place = uint16(i)
		out = append(out, redis.XMessage{ID: ref.ID(), Values: map[string]any{requestlog.Field: line}})
	}
	return out
}

// pick returns the record of m whose record id m.ID names, m.Values being its entry's.
func pick(m redis.XMessage) (redis.XMessage, bool) {
	ref, ok := requestlog.ParseRef(m.ID)
	if !ok {
		return redis.XMessage{}, false
	}
	s, isBlock, err := requestlog.BlockText(m.Values)
	if !isBlock || err != nil {
		return m, ref.Place == 0
	}
	for i := 0; ; i++ {
		line := s
		j := strings.IndexByte(s, '\n')
		if j >= 0 {
			line, s = s[:j], s[j+1:]
		}
		if i == int(ref.Place) {
			return redis.XMessage{ID: m.ID, Values: map[string]any{requestlog.Field: line}}, true
		}
		if j < 0 {
			return redis.XMessage{}, false
		}
	}
}
