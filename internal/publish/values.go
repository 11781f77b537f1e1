package publish

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/edgeplane/edgeplane/internal/backoff"
)

// valueShards spreads PublishValue's callers over this many locks.
const valueShards = 8

// bytesPerRecord bounds the bytes a PublishValue buffer holds: Buffer records of this many
// bytes on average.
const bytesPerRecord = 512

// valueShard is one of PublishValue's buffers: callers append under mu, the sender swaps
// the whole batch out under mu and sends it without holding it.
type valueShard struct {
	mu sync.Mutex // guards cur
	// full is set when cur, holding all its records or half its bytes, refused a record,
	// and cleared when the sender takes cur: while Redis is down, callers pass over full
	// buffers without taking their locks.
	full atomic.Bool
	cur  valueBatch // its packed part first: with mu and full, one cache line per record
	_    [80]byte   // keep shards on separate cache lines (192 bytes a shard, three lines)
}

// valueBatch holds records back to back: recs[i]'s value is data[recs[i-1].end:recs[i].end].
// Records of the packed field (Config.Pack) for one stream, blkStream, go to blk instead,
// each followed by a newline, blkN of them: a block already, which the sender cuts to size
// and copies a run at a time, with no bookkeeping per record.
type valueBatch struct {
	blk       []byte
	blkN      int
	blkStream string

	data []byte
	recs []valueRec
}

type valueRec struct {
	stream, field string
	end           int
}

func (b *valueBatch) reset() { b.data, b.recs, b.blk, b.blkN = b.data[:0], b.recs[:0], b.blk[:0], 0 }

// count and size are what b holds: records and bytes.
func (b *valueBatch) count() int { return len(b.recs) + b.blkN }
func (b *valueBatch) size() int  { return len(b.data) + len(b.blk) }

// PublishValue queues one entry of stream with a single field, whose value is a copy of
// value (the caller may reuse it at once). It never blocks and, once the buffers have
// grown to the traffic, allocates nothing: a few bytes copied under one of several locks,
// chosen by shard (any number that differs between concurrent callers, e.g. a byte of a
// random id). With the buffer full the record is dropped and counted. Hot: called once per
// proxied request.
//
// Records wait up to Config.Linger so that each pipeline carries many: Redis and the
// publisher spend far less per record in one large pipeline than in many small ones.
func (p *Publisher) PublishValue(shard uint8, stream, field string, value []byte) {
	if !p.store(shard, stream, field, value) {
		p.dropped.Add(1)
	}
}

// store copies the record into buffer shard and reports whether it had room.
func (p *Publisher) store(shard uint8, stream, field string, value []byte) bool {
	s := &p.values[shard%valueShards]
	if s.full.Load() {
		return false
	}
	s.mu.Lock()
	b := &s.cur
	n := b.count()
	if n >= p.maxRecs || b.size()+len(value)+1 > p.maxBytes {
		if n >= p.maxRecs || b.size() >= p.maxBytes/2 { // not just one record too large
			s.full.Store(true)
		}
		s.mu.Unlock()
		return false
	}
	if pk := p.cfg.Pack; pk != nil && field == pk.Field && (b.blkN == 0 || stream == b.blkStream) {
		b.blk = append(append(b.blk, value...), '\n')
		b.blkN++
		b.blkStream = stream
	} else {
		b.data = append(b.data, value...)
		b.recs = append(b.recs, valueRec{stream: stream, field: field, end: len(b.data)})
	}
	s.mu.Unlock()
	if n == 0 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// bufferedValues counts the records waiting in the PublishValue buffers.
func (p *Publisher) bufferedValues() int {
	n := 0
	for i := range p.values {
		s := &p.values[i]
		s.mu.Lock()
		n += s.cur.count()
		s.mu.Unlock()
	}
	return n
}

// Packing makes PublishValue's records of one field go out many to a stream entry: their
// values joined by newlines (which they must not hold) as the value of field Into, at most
// MaxRecords records and MaxBytes bytes an entry. Redis then stores, delivers and
// acknowledges one entry per block instead of one per record.
type Packing struct {
	// Field is the field whose records are packed; Into the packed entries' field. Required.
	Field, Into string
	// MaxRecords and MaxBytes bound an entry (MaxBytes before Encode). Defaults 256 and 64 KiB.
	MaxRecords, MaxBytes int
	// Encode, when set, is asked at each flush how to send its entries: with a non-nil enc,
	// each entry's value is enc(dst, value) (appending to dst) in field into instead of Into.
	// Called from the sending goroutine only.
	Encode func() (into string, enc func(dst, value []byte) []byte)
}

// outEntry is one stream entry of a flush, holding recs records: its value is direct when
// set (a run of records where PublishValue stored them, in a spare buffer), else
// out[from:to].
type outEntry struct {
	stream, field  string
	from, to, recs int
	direct         []byte
}

// value returns e's value.
func (p *Publisher) value(e *outEntry) []byte {
	if e.direct != nil {
		return e.direct
	}
	return p.out[e.from:e.to]
}

// directRun is the fewest records of one buffer that go out from where they are stored
// instead of being copied into an entry: a long run makes entries of its own, without a
// copy of every record, and shorter ones fill entries together.
const directRun = 32

// flushValues waits Linger (if linger) for more records, then sends everything the
// PublishValue buffers hold (packed, see Packing), retrying a failed pipeline after
// RetryEvery until ctx ends. It reports whether everything went out; if not, the rest goes
// first next time (and that call sends only it).
func (p *Publisher) flushValues(ctx context.Context, linger bool) bool {
	if linger {
		t := time.NewTimer(p.cfg.Linger)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	if len(p.pending) == 0 {
		for i := range p.values {
			s := &p.values[i]
			s.mu.Lock()
			s.cur, p.spare[i] = p.spare[i], s.cur
			s.full.Store(false)
			s.mu.Unlock()
		}
		p.pack() // entries may point into the spare buffers: they are emptied once all are sent
	}
	for p.next < len(p.pending) {
		n, ok := p.sendEntries(ctx, p.pending[p.next:])
		if !ok {
			if !backoff.Sleep(ctx, p.cfg.RetryEvery) {
				return false
			}
			continue
		}
		p.next += n
	}
	clear(p.pending) // drop the references into the spare buffers
	p.pending, p.next, p.out = p.pending[:0], 0, p.out[:0]
	for i := range p.spare {
		p.spare[i].reset()
	}
	return true
}

// pack turns the spare buffers into entries in p.pending, their values in p.out: first the
// packed field's records, many to an entry, then the others one to an entry.
func (p *Publisher) pack() {
	pk := p.cfg.Pack
	open := -1 // the entry being filled
	for i := range p.spare {
		b := &p.spare[i]
		if b.blkN > 0 {
			open = p.packBlock(b.blkStream, b.blk, b.blkN, open)
		}
		start := 0
		for _, r := range b.recs {
			v := b.data[start:r.end]
			start = r.end
			if pk == nil || r.field != pk.Field {
				continue
			}
			// A packed record of another stream than its buffer's block (rare: streams
			// changed while records waited).
			open = p.packBlock(r.stream, v, 1, open)
		}
	}
	for i := range p.spare {
		b := &p.spare[i]
		start := 0
		for _, r := range b.recs {
			v := b.data[start:r.end]
			start = r.end
			if pk != nil && r.field == pk.Field {
				continue
			}
			from := len(p.out)
			p.out = append(p.out, v...)
			p.pending = append(p.pending, outEntry{stream: r.stream, field: r.field, from: from, to: len(p.out), recs: 1})
		}
	}
}

// packBlock adds the n records in blk (each followed by a newline; a last one without is
// one record too) to entries of stream, filling p.pending[open] first if it is of stream
// and not full, and returns the entry left open. Each entry gets as long a run of records
// as fits, in one copy (found without looking at the records when all of them fit); a
// record larger than MaxBytes goes alone.
func (p *Publisher) packBlock(stream string, blk []byte, n, open int) int {
	pk := p.cfg.Pack
	for len(blk) > 0 {
		if n >= directRun {
			// A long run: entries of its own, cut to size, their values where they are.
			end, k := fit(blk, n, 0, 0, 0, pk)
			p.pending = append(p.pending, outEntry{stream: stream, field: pk.Into, recs: k, direct: blk[:end-1]})
			blk, n = blk[min(end, len(blk)):], n-k
			continue
		}
		if open >= 0 {
			e := &p.pending[open]
			if e.stream != stream || e.recs >= pk.MaxRecords {
				open = -1
			}
		}
		if open < 0 {
			p.pending = append(p.pending, outEntry{stream: stream, field: pk.Into, from: len(p.out), to: len(p.out)})
			open = len(p.pending) - 1
		}
		e := &p.pending[open]
		sep := 0 // the newline before the run, when the entry has records already
		if e.recs > 0 {
			sep = 1
		}
		end, k := fit(blk, n, e.recs, e.to-e.from, sep, pk)
		if k == 0 {
			open = -1 // full: the next entry takes the run
			continue
		}
		if sep == 1 {
			p.out = append(p.out, '\n')
		}
		p.out = append(p.out, blk[:end-1]...)
		e.to, e.recs = len(p.out), e.recs+k
		blk, n = blk[min(end, len(blk)):], n-k
	}
	return open
}

// fit returns how much of blk (n records, each followed by a newline; a last one without is
// one record too) goes into an entry holding recs records of size bytes already: k records,
// ending before blk[end-1] (their newline, or one past blk's end). sep is the newline the
// entry needs before them (1 if it holds records). Found without looking at the records
// when all of them fit; a record larger than MaxBytes goes alone into an empty entry.
func fit(blk []byte, n, recs, size, sep int, pk *Packing) (end, k int) {
	if n > 0 && recs+n <= pk.MaxRecords && size+sep+len(blk)-1 <= pk.MaxBytes && blk[len(blk)-1] == '\n' {
		return len(blk), n // all of them
	}
	for recs+k < pk.MaxRecords {
		j := bytes.IndexByte(blk[end:], '\n')
		if j < 0 {
			j = len(blk) - end
		}
		if size+sep+end+j > pk.MaxBytes && (k > 0 || recs > 0) {
			break
		}
		end += j + 1
		k++
		if end >= len(blk) {
			break
		}
	}
	return end, k
}

// sendEntries sends up to Batch of es in one pipeline and reports how many. Packed entries
// go encoded when Packing.Encode says so.
func (p *Publisher) sendEntries(ctx context.Context, es []outEntry) (int, bool) {
	es = es[:min(len(es), p.cfg.Batch)]
	into, enc := "", (func(dst, value []byte) []byte)(nil)
	if pk := p.cfg.Pack; pk != nil && pk.Encode != nil {
		into, enc = pk.Encode()
	}
	// Encoded values go to p.enc, all of them before any is handed to the pipeline (p.enc
	// may move while it grows); ends[i] is where es[i]'s ends (-1: sent as it is).
	p.enc, p.ends = p.enc[:0], p.ends[:0]
	for _, e := range es {
		end := -1
		if enc != nil && e.field == p.cfg.Pack.Into {
			p.enc = enc(p.enc, p.value(&e))
			end = len(p.enc)
		}
		p.ends = append(p.ends, end)
	}
	pipe := p.cfg.Client.Pipeline()
	recs, from := 0, 0
	for i, e := range es {
		// The value is read by Exec below, before p.out, p.enc and the spare buffers are
		// reused: no copy needed.
		val := p.value(&e)
		field, v := e.field, unsafe.String(unsafe.SliceData(val), len(val))
		if end := p.ends[i]; end >= 0 {
			field, v = into, unsafe.String(unsafe.SliceData(p.enc[from:]), end-from)
			from = end
		}
		pipe.Do(ctx, "XADD", e.stream, "MAXLEN", "~", p.maxLenArg, "*", field, v)
		recs += e.recs
	}
	if _, err := pipe.Exec(ctx); err != nil {
		p.failed.Add(1)
		msg := err.Error()
		p.lastErr.Store(&msg)
		return 0, false
	}
	p.sent.Add(uint64(recs))
	return len(es), true
}
