package telemetry

import (
	"fmt"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// The postings buffers a RequestIndex keeps for the next batches stay within their bounds
// however many strings a batch wrote and however big they grew: a batch of 400 buckets of
// 256 trace shards each (~20 MB of buffers) and one string of half a megabyte.
func TestRequestIndex_KeepsBoundedSpareBuffers(t *testing.T) {
	x := &RequestIndex{Trace: Index{Retention: time.Hour}}
	p := x.Postings("s")
	w := x.Trace.width().Milliseconds()
	for b := range 400 {
		for shard := range 256 {
			r := requestlog.Record{TraceID: fmt.Sprintf("%02x%030x", shard, b)}
			p.Add(requestlog.Ref{MS: int64(b) * w}, r)
		}
	}
	big := requestlog.Record{TraceID: fmt.Sprintf("%032x", 7)}
	for range 20000 {
		p.Add(requestlog.Ref{MS: 1000 * w}, big)
	}
	if err := p.Written(t.Context()); err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, b := range x.spare.bufs {
		if cap(b) > maxSpareBuf || len(b) != 0 {
			t.Fatalf("kept a buffer of cap %d, len %d; want at most %d, empty", cap(b), len(b), maxSpareBuf)
		}
		total += cap(b)
	}
	if total > maxSpareBytes || total < maxSpareBytes/2 || len(x.spare.buckets) > maxSpareBuckets {
		t.Errorf("kept %d bytes in %d buffers and %d buckets; want at most %d bytes (and most of it used), %d buckets",
			total, len(x.spare.bufs), len(x.spare.buckets), maxSpareBytes, maxSpareBuckets)
	}
	// The next batch starts from them.
	q := x.Postings("s")
	if len(q.spare.bufs) == 0 || len(x.spare.bufs) != 0 {
		t.Errorf("the next batch took %d spare buffers (%d left behind), want them all", len(q.spare.bufs), len(x.spare.bufs))
	}
}
