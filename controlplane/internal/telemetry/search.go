package telemetry

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/streams"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// The log search index over request records: time-bucketed postings like the trace index
// (index.go), one Redis string per (bucket, term), appended with APPEND, no key per record.
// Each record is posted under 7 terms:
//
//	s:<status>    e.g. s:503        8-byte postings
//	x:<class>     e.g. x:5 (5xx)    8-byte postings
//	l:<latency>   latency bucket    8-byte postings (latencyBounds)
//	h:<shard>     host              12-byte postings, 64 shards by the value's hash
//	r:<shard>     route             12-byte postings, 64 shards
//	c:<shard>     client IP         12-byte postings, 256 shards
//	p:<shard>     path's first segment ("/api" of "/api/v1/x?y"), 256 shards
//
// An 8-byte posting is the record id: ms offset from the bucket's start (uint32 BE), then
// the sequence (uint32 BE, requestlog.Ref.Packed). A 12-byte one starts with the value's
// 32-bit FNV-1a hash, so a query keeps only its value's postings of the shard; the rare hash
// collision is removed when the record is read. A run of records of one entry at
// consecutive places under one term (and hash) is two postings: its first record's with the
// offset's top bit set (an offset is below 2^31), then its last record's (postings.put).
// Agents publish blocks of records that mostly share status, class, latency bucket, host,
// route, client and path segment: a run costs 16 or 24 bytes instead of 8 or 12 a record.
// Hashed fields have a bounded number of keys per bucket whatever values clients send (a
// Host header, a path, an address). Postings cost at most 72 bytes a record plus APPEND's
// slack, which compaction takes back: once the consumer writes two buckets
// past one, it rewrites that bucket's strings at their exact size (compactScript). A
// bucket's strings expire one retention after its end, as the trace
// index's do; the trimmer (Trimmer.Searched) also deletes the buckets older than the
// stream's first entry.

// Search terms' field letters and shard counts.
const (
	termStatus  = "s:"
	termClass   = "x:"
	termLatency = "l:"
	termHost    = "h:"
	termRoute   = "r:"
	termClient  = "c:"
	termPath    = "p:"

	smallShards = 64
	bigShards   = 256
)

// latencyBounds are the latency buckets' lower bounds: bucket i holds [bounds[i], bounds[i+1]).
var latencyBounds = []time.Duration{0, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second,
	2500 * time.Millisecond, 5 * time.Second, 10 * time.Second}

// latencyBucket returns d's bucket.
func latencyBucket(d time.Duration) int {
	i := 0
	for i+1 < len(latencyBounds) && d >= latencyBounds[i+1] {
		i++
	}
	return i
}

// SearchIndex writes and reads the log search index of request streams. The control plane
// writes it in the metrics consumer's pass (RequestIndex); it is also a streams.Handler of
// its own (Handle), as the GroupSearch consumer group of earlier versions ran it.
type SearchIndex struct {
	// Client writes postings and acknowledges entries. Required for Handle.
	Client redis.UniversalClient
	// Index gives the buckets' width and the retention (the request stream's).
	Index Index
	// MaxRead bounds the postings one search reads. Default MaxPostingBytes.
	MaxRead int64

	mu      sync.Mutex
	written map[string]map[int64]map[string]bool // stream -> bucket start -> keys this handler appended to
}

// compactScript rewrites each of KEYS at its exact size, keeping its expiry. APPEND grows a
// string greedily (to twice its length below 1 MB), a SET stores the value as is.
var compactScript = redis.NewScript(`
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then redis.call('SET', KEYS[i], v, 'KEEPTTL') end
end
return #KEYS
`)

var _ streams.Handler = (*SearchIndex)(nil)

// Handle posts each parsable request record (many to an entry, requestlog.BlockField) under
// its terms and acknowledges the batch in one MULTI. A record posted twice (redelivered
// after a crash) is read once: queries drop duplicate postings. Records that do not parse
// are acknowledged unposted (the metrics group dead-letters them).
func (s *SearchIndex) Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) ([]string, error) {
	b := postings{width: s.Index.width().Milliseconds(), byKey: map[postingKey]int{}}
	ids := make([]string, 0, len(msgs))
	for _, m := range msgs {
		ids = append(ids, m.ID)
		ref, ok := requestlog.EntryRef(m.ID, 0)
		if !ok {
			continue
		}
		requestlog.Each(m.Values, func(i int, r *requestlog.Record, err error) bool {
			if err == nil && i < 1<<16 {
				ref.Place = uint16(i)
				b.add(ref, r)
			}
			return true
		})
	}
	pipe := s.Client.TxPipeline()
	keys := make([]string, len(b.order))
	for i, k := range b.order {
		keys[i] = keyspace.SearchPostings(stream, k.start, k.term())
		pipe.Append(ctx, keys[i], string(b.bufs[i]))
		pipe.PExpireAt(ctx, keys[i], time.UnixMilli(k.start+b.width).Add(s.Index.retention()))
	}
	if len(ids) > 0 {
		pipe.XAck(ctx, stream, group, ids...)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("writing the search index of %s: %w", stream, err)
	}
	return nil, s.compact(ctx, stream, &b, keys)
}

// compact notes the keys b appended to and compacts those of the buckets that end a whole
// bucket before the newest one b wrote (a late posting appended after that grows the string
// again, which only costs memory). A failure leaves the strings as they are: it is retried
// with the next batch.
func (s *SearchIndex) compact(ctx context.Context, stream string, b *postings, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.written == nil {
		s.written = map[string]map[int64]map[string]bool{}
	}
	buckets := s.written[stream]
	if buckets == nil {
		buckets = map[int64]map[string]bool{}
		s.written[stream] = buckets
	}
	newest := int64(0)
	for i, k := range b.order {
		if buckets[k.start] == nil {
			buckets[k.start] = map[string]bool{}
		}
		buckets[k.start][keys[i]] = true
		newest = max(newest, k.start)
	}
	for start, keys := range buckets {
		if start+2*b.width > newest {
			continue
		}
		if err := compactScript.Run(ctx, s.Client, slices.Collect(maps.Keys(keys))).Err(); err != nil {
			return fmt.Errorf("compacting the search index of %s: %w", stream, err)
		}
		delete(buckets, start)
	}
	return nil
}

// postingKey names one postings string of a batch: its bucket and term (a field, by its
// place in termLetters, and a number: the status, class or latency bucket, or the shard).
// Only numbers, so that hashing it is cheap: it is looked up 7 times per record.
type postingKey struct {
	start int64
	n     uint32
	field uint8
}

// termLetters are the fields' letters, by postingKey.field; the hashed fields' (shards,
// named in hex) come after firstSharded.
var termLetters = [...]string{termStatus, termClass, termLatency, termHost, termRoute, termClient, termPath}

const firstSharded = 3

// hashed reports whether k's field is hashed into shards: its postings start with the
// value's hash.
func (k postingKey) hashed() bool { return k.field >= firstSharded }

// postingSize is a posting's size in bytes: 12 for a hashed field's (hash, then record),
// 8 for another's.
func postingSize(hashed bool) int {
	if hashed {
		return 12
	}
	return 8
}

func (k postingKey) term() string {
	if k.hashed() {
		return termLetters[k.field] + strconv.FormatUint(uint64(k.n), 16)
	}
	return termLetters[k.field] + strconv.FormatUint(uint64(k.n), 10)
}

// postings accumulates a batch's postings per key.
type postings struct {
	width int64
	byKey map[postingKey]int // place in order and bufs
	order []postingKey
	bufs  [][]byte
	runs  []postingRun // per string: its last posting
	// last are each field's last key and its place + 1 (records come in runs of one host,
	// one route, ...), and lastVal the hashed fields' last values and hashed their hashes.
	last [len(termLetters)]struct {
		k postingKey
		i int
	}
	lastVal [len(termLetters) - firstSharded]string
	hashed  [len(termLetters) - firstSharded]uint32
	// spare, when set, holds empty buffers to take before allocating.
	spare *[][]byte
}

// add posts record ref (r) under each of its terms. Hot: called for every record.
func (b *postings) add(ref requestlog.Ref, r *requestlog.Record) {
	start := ref.MS - ref.MS%b.width
	p := uint64(ref.MS-start)<<32 | uint64(ref.Packed())
	b.put(postingKey{start, uint32(r.Status), 0}, 0, p)
	b.put(postingKey{start, uint32(r.Status / 100), 1}, 0, p)
	b.put(postingKey{start, uint32(latencyBucket(r.Duration)), 2}, 0, p)
	b.putHashed(start, p, 0, r.Host, smallShards)
	b.putHashed(start, p, 1, r.Route, smallShards)
	b.putHashed(start, p, 2, r.Client, bigShards)
	b.putHashed(start, p, 3, r.Path, bigShards)
}

// putHashed posts p under the i-th hashed field (host, route, client, path), whose value
// is value: its hash is worked out again only when the value differs from the last one.
func (b *postings) putHashed(start int64, p uint64, i int, value string, shards uint32) {
	h := b.hashed[i]
	if value != b.lastVal[i] || h == 0 {
		v := value
		switch firstSharded + i {
		case 5:
			v = ClientIP(v)
		case 6:
			v = FirstSegment(v)
		}
		h = hash32(v)
		b.lastVal[i], b.hashed[i] = value, h
	}
	b.put(postingKey{start, h % shards, uint8(firstSharded + i)}, h, p)
}

// put posts p (offset and sequence, as eachPosting passes them) under k: a posting of 8
// bytes, or of 12 starting with h for a hashed field's key; or, when p is the next place
// of the same entry as the string's last posting (of the same hash), it extends or starts
// a run.
func (b *postings) put(k postingKey, h uint32, p uint64) {
	l := &b.last[k.field]
	if l.k != k || l.i == 0 {
		i, seen := b.byKey[k]
		if !seen {
			i = len(b.order)
			b.byKey[k] = i
			b.order = append(b.order, k)
			size := postingSize(k.hashed())
			var buf []byte
			if b.spare != nil {
				buf = spareBuf(b.spare, 64*size)
			} else {
				buf = make([]byte, 0, 64*size)
			}
			b.bufs = append(b.bufs, buf)
			b.runs = append(b.runs, postingRun{})
		}
		l.k, l.i = k, i+1
	}
	i := l.i - 1
	r := &b.runs[i]
	if p == r.last+1 && uint16(p) != 0 && h == r.hash && len(b.bufs[i]) > 0 {
		// The next place of the last posting's entry (a place of 0 is the next seq's).
		buf := b.bufs[i]
		r.last = p
		if r.run {
			binary.BigEndian.PutUint64(buf[len(buf)-8:], p) // the run's new last record
			return
		}
		buf[len(buf)-8] |= runFlag // the last posting starts a run, this one ends it
		r.run = true
		b.bufs[i] = appendPosting(buf, k, h, p)
		return
	}
	b.bufs[i] = appendPosting(b.bufs[i], k, h, p)
	*r = postingRun{last: p, hash: h}
}

// appendPosting appends p's posting under k (with h first for a hashed field's key).
func appendPosting(buf []byte, k postingKey, h uint32, p uint64) []byte {
	if k.hashed() {
		buf = binary.BigEndian.AppendUint32(buf, h)
	}
	return binary.BigEndian.AppendUint64(buf, p)
}

// runFlag marks a posting's first byte of offset: it starts a run, ended by the next one.
const runFlag = 0x80

// postingRun is a postings string's last posting: its record (offset and sequence), hash
// (12-byte postings) and whether it ends a run.
type postingRun struct {
	last uint64
	hash uint32
	run  bool
}

// eachPosting calls fn for every record v's postings hold (a hashed field's, starting with
// a hash, or another's), with its hash (0 for an unhashed field's) and its offset and
// sequence as one number (offset in the high 32 bits), runs expanded, in the string's order.
func eachPosting(v string, hashed bool, fn func(hash uint32, p uint64)) {
	size := postingSize(hashed)
	for i := 0; i+size <= len(v); i += size {
		var h uint32
		if hashed {
			h = uint32(be64(v[i:]) >> 32)
		}
		p := be64(v[i+size-8:])
		if p>>63 == 1 && i+2*size <= len(v) {
			i += size
			first, last := p&^(1<<63), be64(v[i+size-8:])
			if last>>16 != first>>16 || last < first { // not one entry's run: not written so
				fn(h, first)
				fn(h, last)
				continue
			}
			for q := first; q <= last; q++ {
				fn(h, q)
			}
			continue
		}
		fn(h, p)
	}
}

// be64 reads a big-endian uint64 from the first 8 bytes of s.
func be64(s string) uint64 {
	_ = s[7]
	return uint64(s[0])<<56 | uint64(s[1])<<48 | uint64(s[2])<<40 | uint64(s[3])<<32 |
		uint64(s[4])<<24 | uint64(s[5])<<16 | uint64(s[6])<<8 | uint64(s[7])
}

// hash32 is the 32-bit FNV-1a hash of s.
func hash32(s string) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// shardName is the shard of hash h among n, in hex.
func shardName(h, n uint32) string { return strconv.FormatUint(uint64(h%n), 16) }

// ClientIP returns the IP of a client address ("10.0.0.1:5000" -> "10.0.0.1",
// "[::1]:80" -> "::1"); an address without a port is returned as is.
func ClientIP(addr string) string {
	if strings.HasPrefix(addr, "[") {
		if i := strings.Index(addr, "]"); i > 0 {
			return addr[1:i]
		}
	}
	if i := strings.LastIndexByte(addr, ':'); i >= 0 && strings.Count(addr, ":") == 1 {
		return addr[:i]
	}
	return addr
}

// FirstSegment returns a path's first segment: "/api" of "/api/v1?x", "/" of "/" or "/?q".
func FirstSegment(path string) string {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if len(path) <= 1 {
		return "/"
	}
	if i := strings.IndexByte(path[1:], '/'); i >= 0 {
		return path[:i+1]
	}
	return path
}
