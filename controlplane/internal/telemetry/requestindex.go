package telemetry

import (
	"context"
	"encoding/binary"
	"slices"
	"strconv"
	"sync"

	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// RequestIndex is a request stream's two indexes, the trace index (Index) and the log
// search index (SearchIndex), built in the one pass over a batch of records that the metrics
// consumer makes (metrics.Config.Postings): each block is read from Redis and parsed once
// for the counters and both indexes, and the postings go to Redis in the script that counts
// and acknowledges the batch (metrics), so a record is posted if and only if its entry is
// acknowledged, or posted again when it is delivered again (queries drop duplicate postings).
type RequestIndex struct {
	// Trace is the trace index (its width and retention).
	Trace Index
	// Search, when set, is the log search index.
	Search *SearchIndex

	mu    sync.Mutex
	spare spareBuffers // of batches written, for the next ones
}

// spareBuffers are postings buffers of written batches, emptied: a batch's strings then
// grow into memory already there instead of being allocated and collected every batch.
type spareBuffers struct {
	bufs    [][]byte
	buckets []*traceBucket
}

// Bounds of what RequestIndex keeps for reuse: buffers of at most maxSpareBuf bytes,
// maxSpareBytes in all (a batch of 2,400 records' postings take ~250 KB).
const (
	maxSpareBuf     = 256 << 10
	maxSpareBytes   = 16 << 20
	maxSpareBuckets = 4
)

// Postings returns an empty batch of stream's postings.
func (x *RequestIndex) Postings(stream string) *RequestPostings {
	p := &RequestPostings{x: x, stream: stream, traceW: x.Trace.width().Milliseconds()}
	x.mu.Lock()
	p.spare, x.spare = x.spare, spareBuffers{}
	x.mu.Unlock()
	if x.Search != nil {
		p.searchB = postings{width: x.Search.Index.width().Milliseconds(), byKey: map[postingKey]int{}, spare: &p.spare.bufs}
	}
	return p
}

// RequestPostings are the postings of one batch of request records, per postings string.
type RequestPostings struct {
	x      *RequestIndex
	stream string
	spare  spareBuffers

	traceW  int64
	buckets []*traceBucket // trace postings per bucket, in the order first seen
	lastB   *traceBucket

	searchB    postings
	searchKeys []string // the search postings strings written, for compaction
}

// traceBucket is one trace-index bucket's postings of a batch, per shard.
type traceBucket struct {
	start  int64
	shards [shards][]byte
}

// Add posts record r, at ref, in the trace index (when it has a trace id of 32 hex digits)
// and the search index. Hot: called for every record.
func (p *RequestPostings) Add(ref requestlog.Ref, r requestlog.Record) {
	var trace [16]byte
	if len(r.TraceID) == 32 && decodeHex(trace[:], r.TraceID) {
		start := ref.MS - ref.MS%p.traceW
		b := p.lastB
		if b == nil || b.start != start {
			b = nil
			for _, c := range p.buckets {
				if c.start == start {
					b = c
				}
			}
			if b == nil {
				if k := len(p.spare.buckets); k > 0 {
					b, p.spare.buckets = p.spare.buckets[k-1], p.spare.buckets[:k-1]
					b.start = start
				} else {
					b = &traceBucket{start: start}
				}
				p.buckets = append(p.buckets, b)
			}
			p.lastB = b
		}
		s := b.shards[trace[0]]
		if s == nil {
			s = spareBuf(&p.spare.bufs, 8*entrySize)
		}
		s = append(s, trace[:]...)
		s = binary.BigEndian.AppendUint32(s, uint32(ref.MS-start))
		b.shards[trace[0]] = binary.BigEndian.AppendUint32(s, ref.Packed())
	}
	if p.x.Search != nil {
		p.searchB.add(ref, &r)
	}
}

// spareBuf returns an empty buffer from spare, or a new one of capacity size.
func spareBuf(spare *[][]byte, size int) []byte {
	if k := len(*spare); k > 0 {
		b := (*spare)[k-1]
		*spare = (*spare)[:k-1]
		return b
	}
	return make([]byte, 0, size)
}

// Strings calls fn for each postings string of the batch: its key, the postings to append
// and when the string expires (unix ms), searchable strings and then trace ones.
func (p *RequestPostings) Strings(fn func(key string, postings []byte, expireAt int64)) {
	if p.x.Search != nil {
		b := &p.searchB
		keep := p.x.Search.Index.retention().Milliseconds()
		p.searchKeys = make([]string, len(b.order))
		for i, k := range b.order {
			p.searchKeys[i] = keyspace.SearchPostings(p.stream, k.start, k.term())
			fn(p.searchKeys[i], b.bufs[i], k.start+b.width+keep)
		}
	}
	keep := p.x.Trace.retention().Milliseconds()
	for _, b := range p.buckets {
		prefix := keyspace.TraceIndexPrefix(p.stream) + strconv.FormatInt(b.start, 10) + ":"
		for shard, s := range b.shards {
			if len(s) > 0 {
				fn(prefix+hexByte(byte(shard)), s, b.start+p.traceW+keep)
			}
		}
	}
}

// Written tells the search index which strings the batch appended to, once they are in
// Redis: it compacts those of buckets that are over (SearchIndex.compact). The batch's
// buffers are then kept for the next batches; p is not to be used again.
func (p *RequestPostings) Written(ctx context.Context) error {
	var err error
	if p.x.Search != nil && len(p.searchKeys) > 0 {
		err = p.x.Search.compact(ctx, p.stream, &p.searchB, slices.Clip(p.searchKeys))
	}
	spare := p.spare
	kept := 0
	for _, b := range spare.bufs {
		kept += cap(b)
	}
	keep := func(b []byte) {
		if b != nil && cap(b) <= maxSpareBuf && kept+cap(b) <= maxSpareBytes {
			spare.bufs = append(spare.bufs, b[:0])
			kept += cap(b)
		}
	}
	for _, b := range p.searchB.bufs {
		keep(b)
	}
	for _, b := range p.buckets {
		for i, s := range b.shards {
			keep(s)
			b.shards[i] = nil
		}
		if len(spare.buckets) < maxSpareBuckets {
			spare.buckets = append(spare.buckets, b)
		}
	}
	p.x.mu.Lock()
	p.x.spare = spare
	p.x.mu.Unlock()
	return err
}

const hexDigits = "0123456789abcdef"

// hexByte is b in two hex digits (as keyspace.TraceBucket names a shard).
func hexByte(b byte) string { return string([]byte{hexDigits[b>>4], hexDigits[b&15]}) }
