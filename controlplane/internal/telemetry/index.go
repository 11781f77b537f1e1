package telemetry

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// The trace index: time-bucketed postings. For each indexed stream, each bucket of time
// (Index.Width, from the stream id's time) and each shard (the trace id's first byte) one
// Redis string holds the bucket's postings, appended with APPEND, one fixed-size entry each:
//
//	trace id (16 bytes) | ms offset from the bucket's start (uint32 BE) | sequence (uint32 BE)
//
// so an entry costs 24 bytes plus the string's growth slack: ~26 bytes per record measured
// in Redis, against ~110 for a field per trace in a hash per minute (index_test.go). A bucket expires Retention
// after its end, and the trimmer deletes the buckets older than the stream's first entry, so
// the index never outlives what it indexes. GetTrace reads one shard of every bucket in the
// retention window in one Lua call that scans the strings and reads the matching entries
// with XRANGE: one round trip, no key per request.
//
// The request stream's records are many to an entry (requestlog.BlockField): there the
// sequence is requestlog.Ref's packed sequence and place in the block (AddRefs), and the
// lookup reads the block and takes the record at that place.
//
// Keys: keyspace.TraceBucket, "{<stream>}:trace:<bucket start, unix ms>:<shard, 2 hex>".
// The hash tag is the stream's name, so a stream and its index share one Redis Cluster slot (as the metrics
// counters do) and the lookup script may touch them together.
//
// Log search over request records uses the same scheme (SearchIndex, search.go): a posting
// string per (bucket, term), values a client chooses hashed into shards.

// entrySize is the size of one posting.
const entrySize = 24

// shards is how many postings strings a bucket is split into (by the trace id's first byte).
const shards = 256

// maxTraceEntries bounds what one GetTrace returns.
const maxTraceEntries = 1000

// Index writes and reads the trace index. The zero Width and Retention take their defaults.
type Index struct {
	// Retention is how long records are kept (the streams' MINID trimming). Default 1h.
	Retention time.Duration
	// Width is a bucket's span. Default: Retention/60 (a minute for the default hour), at
	// least a second, so a lookup reads ~62 buckets and a posting outlives its record by at
	// most 1/60 of the retention.
	Width time.Duration
}

// width returns the bucket span.
func (x Index) width() time.Duration {
	if x.Width > 0 {
		return x.Width
	}
	return max(time.Second, x.retention()/60).Truncate(time.Second)
}

func (x Index) retention() time.Duration {
	if x.Retention > 0 {
		return x.Retention
	}
	return DefaultRetention
}

// DefaultRetention is how long telemetry records are kept unless configured.
const DefaultRetention = time.Hour

// Add queues, on pipe, the postings of stream's entries ids[i] under traceIDs[i] (32 hex
// digits): one APPEND per postings string and one PEXPIREAT for its expiry. A pair that does
// not parse is skipped: it could not be looked up either.
func (x Index) Add(ctx context.Context, pipe redis.Pipeliner, stream string, traceIDs, ids []string) {
	w := x.width().Milliseconds()
	byKey := map[string][]byte{}
	var order []string
	ends := map[string]int64{}
	for i := range min(len(traceIDs), len(ids)) {
		entry, start, ok := posting(traceIDs[i], ids[i], w)
		if !ok {
			continue
		}
		key := keyspace.TraceBucket(stream, start, entry[0])
		if _, seen := byKey[key]; !seen {
			order = append(order, key)
			ends[key] = start + w
		}
		byKey[key] = append(byKey[key], entry...)
	}
	for _, key := range order {
		pipe.Append(ctx, key, string(byKey[key]))
		pipe.PExpireAt(ctx, key, time.UnixMilli(ends[key]).Add(x.retention()))
	}
}

// AddRefs is Add for request records, found by requestlog.Ref (a record's place in its
// block): a posting's sequence is the Ref's packed sequence and place. Hot: called by the
// metrics consumer for every batch of records; one allocation per postings string.
func (x Index) AddRefs(ctx context.Context, pipe redis.Pipeliner, stream string, traceIDs []string, refs []requestlog.Ref) {
	type bucketShard struct {
		start int64
		shard byte
	}
	w := x.width().Milliseconds()
	byKey := map[bucketShard][]byte{}
	var order []bucketShard
	var trace [16]byte
	for i := range min(len(traceIDs), len(refs)) {
		if len(traceIDs[i]) != 32 || !decodeHex(trace[:], traceIDs[i]) {
			continue
		}
		r := refs[i]
		start := r.MS - r.MS%w
		k := bucketShard{start, trace[0]}
		buf, seen := byKey[k]
		if !seen {
			order = append(order, k)
		}
		buf = append(buf, trace[:]...)
		buf = binary.BigEndian.AppendUint32(buf, uint32(r.MS-start))
		byKey[k] = binary.BigEndian.AppendUint32(buf, r.Packed())
	}
	for _, k := range order {
		key := keyspace.TraceBucket(stream, k.start, k.shard)
		pipe.Append(ctx, key, string(byKey[k]))
		pipe.PExpireAt(ctx, key, time.UnixMilli(k.start+w).Add(x.retention()))
	}
}

// decodeHex decodes the hex digits of s into dst (len(s) == 2*len(dst)) without allocating.
// Hot: called for every record's trace id.
func decodeHex(dst []byte, s string) bool {
	var bad byte
	for i := range dst {
		a, b := hexValue[s[2*i]], hexValue[s[2*i+1]]
		bad |= a | b
		dst[i] = a<<4 | b&15
	}
	return bad&0x10 == 0
}

// hexValue is each byte's value as a hex digit, 0x10 for bytes that are not one.
var hexValue = func() (t [256]byte) {
	for c := range t {
		t[c] = 0x10
		switch {
		case '0' <= c && c <= '9':
			t[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		case 'A' <= c && c <= 'F':
			t[c] = byte(c - 'A' + 10)
		}
	}
	return t
}()

// posting encodes one entry and returns it with its bucket's start.
func posting(traceID, id string, width int64) (entry []byte, start int64, ok bool) {
	var trace [16]byte
	if len(traceID) != 32 {
		return nil, 0, false
	}
	if _, err := hex.Decode(trace[:], []byte(traceID)); err != nil {
		return nil, 0, false
	}
	ms, seq, ok := parseID(id)
	if !ok {
		return nil, 0, false
	}
	start = ms - ms%width
	entry = make([]byte, entrySize)
	copy(entry, trace[:])
	binary.BigEndian.PutUint32(entry[16:], uint32(ms-start))
	binary.BigEndian.PutUint32(entry[20:], uint32(min(seq, 1<<32-1)))
	return entry, start, true
}

// parseID splits a stream id "ms-seq".
func parseID(id string) (ms, seq int64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseInt(a, 10, 64)
	seq, err2 := strconv.ParseInt(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil && ms >= 0 && seq >= 0
}
