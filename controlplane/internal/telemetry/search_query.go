package telemetry

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// RequestQuery selects request records. Zero fields match everything.
type RequestQuery struct {
	ClientIP, Host, Route, Method string
	// Status is an exact status code; StatusClass its first digit (5 for 5xx).
	Status, StatusClass int
	// PathPrefix matches the path's start (query string included).
	PathPrefix string
	// MinLatency keeps records that took at least this long.
	MinLatency time.Duration
	TraceID    string
	// From, To: the time range [From, To), by the records' stream ids.
	From, To time.Time
	// Before is a page cursor: only records with an id below it ("" for the first page).
	Before string
	// Limit is the most records returned (at least 1).
	Limit int
}

// RequestPage is one page of a request search.
type RequestPage struct {
	// Entries match, newest first.
	Entries []Entry
	// Next is the cursor of the next page; "" when there is none.
	Next string
	// Total counts the records of the whole range [From, To) (not just this page, and
	// whatever Before is) that the index matches. When Exact, that is the number of
	// matching records. With LowerBound, a query without an indexed filter scanned the
	// stream from Before (or To) and stopped at MaxExamined records: Total counts the
	// matches it saw. With neither, a filter the index only narrows applies (method, path
	// prefix, a minimum latency between two latency buckets): Total counts the records
	// matching the indexed filters, an upper bound.
	Total      int64
	Exact      bool
	LowerBound bool
	// Examined is how many records were read and checked for this page.
	Examined int
}

// MaxExamined bounds how many records one request search reads and checks.
const MaxExamined = 10000

// posting list of one bucket: entry ids as (ms offset << 32 | seq), ascending.
type plist []uint64

// term is one indexed condition: the union of the postings of keys, keeping only the
// entries of hash when hashed.
type term struct {
	keys   []string
	hashed bool
	hash   uint32
}

// SearchRequests returns the request records of stream matching q, newest first.
func (s *SearchIndex) SearchRequests(ctx context.Context, stream string, q RequestQuery) (RequestPage, error) {
	now, err := s.Client.Time(ctx).Result()
	if err != nil {
		return RequestPage{}, fmt.Errorf("searching %s: reading the Redis clock: %w", stream, err)
	}
	w := s.Index.width()
	q.From = maxTime(q.From, now.Add(-s.Index.retention()-2*w))
	q.To = minTime(q.To, now.Add(2*w))
	if !q.From.Before(q.To) {
		return RequestPage{Exact: true}, nil
	}
	if q.TraceID != "" {
		return s.byTrace(ctx, stream, q, now)
	}
	terms, exact := s.terms(q)
	if len(terms) == 0 {
		return s.scan(ctx, stream, q)
	}
	cands, total, err := s.candidates(ctx, stream, q, terms)
	if err != nil {
		return RequestPage{}, err
	}
	page, err := s.check(ctx, stream, q, cands)
	page.Total, page.Exact = total, exact
	return page, err
}

// terms returns q's indexed conditions and whether they are the whole query.
func (s *SearchIndex) terms(q RequestQuery) (terms []func(start int64) term, exact bool) {
	exact = q.Method == "" && q.PathPrefix == ""
	hashed := func(letter, value string, shards uint32) func(int64) term {
		h := hash32(value)
		return func(_ int64) term { return term{keys: []string{letter + shardName(h, shards)}, hashed: true, hash: h} }
	}
	plain := func(names ...string) func(int64) term {
		return func(_ int64) term { return term{keys: names} }
	}
	if q.Host != "" {
		terms = append(terms, hashed(termHost, q.Host, smallShards))
	}
	if q.Route != "" {
		terms = append(terms, hashed(termRoute, q.Route, smallShards))
	}
	if q.ClientIP != "" {
		terms = append(terms, hashed(termClient, q.ClientIP, bigShards))
	}
	if p := q.PathPrefix; len(p) > 1 && strings.IndexByte(p[1:], '/') >= 0 {
		terms = append(terms, hashed(termPath, FirstSegment(p), bigShards))
	}
	if q.Status != 0 {
		terms = append(terms, plain(termStatus+strconv.Itoa(q.Status)))
	}
	if q.StatusClass != 0 {
		terms = append(terms, plain(termClass+strconv.Itoa(q.StatusClass)))
	}
	if q.MinLatency > 0 {
		b := latencyBucket(q.MinLatency)
		exact = exact && latencyBounds[b] == q.MinLatency
		var names []string
		for i := b; i < len(latencyBounds); i++ {
			names = append(names, termLatency+strconv.Itoa(i))
		}
		terms = append(terms, plain(names...))
	}
	return terms, exact
}

// bucketCands is one bucket's candidates, ascending.
type bucketCands struct {
	start int64
	ids   plist
}

// MaxPostingBytes bounds the index one request search reads (the postings of its terms over
// its time range) unless SearchIndex.MaxRead says otherwise; a broader search fails with
// ErrTooBroad, having held at most this much and one pipeline's worth.
const MaxPostingBytes = 64 << 20

// ErrTooBroad: a search would read more than MaxPostingBytes of index.
var ErrTooBroad = errors.New("the search would read over 64 MB of index: narrow the time range or add a filter")

// bucketsPerRead is how many buckets' postings one pipeline reads.
const bucketsPerRead = 8

// candidates reads every term's postings of the buckets overlapping [From, To), newest
// first, bucketsPerRead buckets a pipeline, and intersects them per bucket; it returns the
// buckets, newest first, each one's candidates inside the range, and their total.
func (s *SearchIndex) candidates(ctx context.Context, stream string, q RequestQuery, terms []func(int64) term) ([]bucketCands, int64, error) {
	w := s.Index.width().Milliseconds()
	from, to := q.From.UnixMilli(), q.To.UnixMilli()
	var starts []int64
	for b := (to - 1) - (to-1)%w; b+w > from; b -= w {
		starts = append(starts, b)
	}
	var out []bucketCands
	var total, read int64
	for len(starts) > 0 {
		n := min(len(starts), bucketsPerRead)
		got, bytes, err := s.readBuckets(ctx, stream, starts[:n], terms)
		if err != nil {
			return nil, 0, err
		}
		if read += bytes; read > cmp.Or(s.MaxRead, MaxPostingBytes) {
			return nil, 0, ErrTooBroad
		}
		for _, b := range got {
			if b.ids = clip(b.ids, b.start, from, to); len(b.ids) > 0 {
				out = append(out, b)
				total += int64(len(b.ids))
			}
		}
		starts = starts[n:]
	}
	return out, total, nil
}

// readBuckets reads the terms' postings of the buckets starting at starts in one pipeline
// and returns each bucket's intersection and the bytes read.
func (s *SearchIndex) readBuckets(ctx context.Context, stream string, starts []int64, terms []func(int64) term) ([]bucketCands, int64, error) {
	pipe := s.Client.Pipeline()
	type pending struct {
		terms []term
		gets  [][]*redis.StringCmd
	}
	buckets := make([]pending, len(starts))
	for i, b := range starts {
		for _, tf := range terms {
			t := tf(b)
			gets := make([]*redis.StringCmd, len(t.keys))
			for k, key := range t.keys {
				gets[k] = pipe.Get(ctx, keyspace.SearchPostings(stream, b, key))
			}
			buckets[i].terms, buckets[i].gets = append(buckets[i].terms, t), append(buckets[i].gets, gets)
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
		return nil, 0, fmt.Errorf("searching %s: reading postings: %w", stream, err)
	}
	var bytes int64
	out := make([]bucketCands, len(starts))
	for i, p := range buckets {
		out[i].start = starts[i]
		for ti, t := range p.terms {
			for _, g := range p.gets[ti] {
				bytes += expandedSize(g.Val(), t.hashed)
			}
			if ti > 0 && len(out[i].ids) == 0 {
				continue // nothing left to intersect; the bytes still count
			}
			l := decodeTerm(t, p.gets[ti])
			if ti == 0 {
				out[i].ids = l
			} else {
				out[i].ids = intersect(out[i].ids, l)
			}
		}
	}
	return out, bytes, nil
}

// expandedSize is the size of a postings string with its runs written out, a posting per
// record: what the bound on a search's reading (MaxRead) counts, as the records it holds
// are what a search then sorts and intersects.
func expandedSize(v string, hashed bool) int64 {
	n := int64(0)
	eachPosting(v, hashed, func(uint32, uint64) { n++ })
	return n * int64(postingSize(hashed))
}

// decodeTerm returns the sorted, deduplicated union of a term's postings strings.
func decodeTerm(t term, gets []*redis.StringCmd) plist {
	var l plist
	for _, g := range gets {
		v, err := g.Result()
		if err != nil {
			continue
		}
		if t.hashed {
			eachPosting(v, true, func(h uint32, p uint64) {
				if h == t.hash {
					l = append(l, p)
				}
			})
			continue
		}
		eachPosting(v, false, func(_ uint32, p uint64) { l = append(l, p) })
	}
	if len(gets) > 1 || !slices.IsSorted(l) {
		slices.Sort(l)
	}
	return slices.Compact(l)
}

// intersect returns the entries in both sorted lists (reusing a).
func intersect(a, b plist) plist {
	out := a[:0]
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i, j = i+1, j+1
		}
	}
	return out
}

// clip keeps the entries of the bucket starting at start whose time is in [from, to).
func clip(l plist, start, from, to int64) plist {
	lo := slices.IndexFunc(l, func(p uint64) bool { return start+int64(p>>32) >= from })
	if lo < 0 {
		return nil
	}
	l = l[lo:]
	hi := slices.IndexFunc(l, func(p uint64) bool { return start+int64(p>>32) >= to })
	if hi >= 0 {
		l = l[:hi]
	}
	return l
}

// entryID is the stream id of a bucket's posting.
func entryID(start int64, p uint64) string {
	return strconv.FormatInt(start+int64(p>>32), 10) + "-" + strconv.FormatUint(p&(1<<32-1), 10)
}

// check reads the candidates newest first, after q.Before, keeps those matching all of q,
// and stops at q.Limit matches or MaxExamined records.
func (s *SearchIndex) check(ctx context.Context, stream string, q RequestQuery, cands []bucketCands) (RequestPage, error) {
	var ids []string
	var page RequestPage
	flush := func() error {
		entries, err := s.read(ctx, stream, ids)
		if err != nil {
			return err
		}
		for i, m := range entries {
			page.Examined++
			if m != nil && q.matches(m.Values) {
				page.Entries = append(page.Entries, toEntry(stream, *m))
				if len(page.Entries) == q.Limit {
					page.Next = ids[i]
					return nil
				}
			}
		}
		if page.Examined >= MaxExamined {
			page.Next = ids[len(ids)-1]
		}
		ids = ids[:0]
		return nil
	}
	batch := min(max(2*q.Limit, 100), 1000)
	for _, b := range cands {
		for i := len(b.ids) - 1; i >= 0; i-- {
			id := entryID(b.start, b.ids[i])
			if q.Before != "" && !idLess(id, q.Before) {
				continue
			}
			ids = append(ids, id)
			if len(ids) < min(batch, MaxExamined-page.Examined) {
				continue
			}
			if err := flush(); err != nil || page.Next != "" {
				return page, err
			}
		}
	}
	if len(ids) > 0 {
		if err := flush(); err != nil {
			return page, err
		}
	}
	if page.Next != "" && !hasAfter(cands, page.Next) {
		page.Next = ""
	}
	return page, nil
}

// hasAfter reports whether any candidate is older than id.
func hasAfter(cands []bucketCands, id string) bool {
	if len(cands) == 0 {
		return false
	}
	last := cands[len(cands)-1]
	return idLess(entryID(last.start, last.ids[0]), id)
}

// read returns the records of ids (record ids, requestlog.Ref; nil for one trimmed since it
// was indexed), in order, reading each entry once, in one pipeline.
func (s *SearchIndex) read(ctx context.Context, stream string, ids []string) ([]*redis.XMessage, error) {
	pipe := s.Client.Pipeline()
	cmds := map[string]*redis.XMessageSliceCmd{}
	entries := make([]string, len(ids))
	for i, id := range ids {
		ref, ok := requestlog.ParseRef(id)
		if !ok {
			continue
		}
		entries[i] = ref.Entry()
		if cmds[entries[i]] == nil {
			cmds[entries[i]] = pipe.XRange(ctx, stream, entries[i], entries[i])
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("searching %s: reading records: %w", stream, err)
	}
	out := make([]*redis.XMessage, len(ids))
	for i, id := range ids {
		c := cmds[entries[i]]
		if c == nil || len(c.Val()) != 1 {
			continue
		}
		if rec, ok := pick(redis.XMessage{ID: id, Values: c.Val()[0].Values}); ok {
			out[i] = &rec
		}
	}
	return out, nil
}
