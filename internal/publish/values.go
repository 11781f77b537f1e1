package publish

import (
	"context"
	"sync"
	"time"
	"unsafe"
)

// valueShards spreads PublishValue's callers over this many locks.
const valueShards = 8

// bytesPerRecord bounds the bytes a PublishValue buffer holds: Buffer records of this many
// bytes on average.
const bytesPerRecord = 512

// valueShard is one of PublishValue's buffers: callers append under mu, the sender swaps
// the whole batch out under mu and sends it without holding it.
type valueShard struct {
	mu  sync.Mutex // guards cur
	cur valueBatch
	_   [64]byte // keep shards on separate cache lines
}

// valueBatch holds records back to back: recs[i]'s value is data[recs[i-1].end:recs[i].end].
type valueBatch struct {
	data []byte
	recs []valueRec
}

type valueRec struct {
	stream, field string
	end           int
}

func (b *valueBatch) reset() { b.data, b.recs = b.data[:0], b.recs[:0] }

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
	s := &p.values[shard%valueShards]
	s.mu.Lock()
	b := &s.cur
	if len(b.recs) >= p.maxRecs || len(b.data)+len(value) > p.maxBytes {
		s.mu.Unlock()
		p.dropped.Add(1)
		return
	}
	first := len(b.recs) == 0
	b.data = append(b.data, value...)
	b.recs = append(b.recs, valueRec{stream: stream, field: field, end: len(b.data)})
	s.mu.Unlock()
	if first {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// bufferedValues counts the records waiting in the PublishValue buffers.
func (p *Publisher) bufferedValues() int {
	n := 0
	for i := range p.values {
		s := &p.values[i]
		s.mu.Lock()
		n += len(s.cur.recs)
		s.mu.Unlock()
	}
	return n
}

// flushValues waits Linger (if linger) for more records, then sends everything the
// PublishValue buffers hold, retrying a failed pipeline after RetryEvery until ctx ends. It
// reports whether everything went out; if not, the rest goes first next time.
func (p *Publisher) flushValues(ctx context.Context, linger bool) bool {
	if linger {
		t := time.NewTimer(p.cfg.Linger)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	for i := range p.values {
		if len(p.spare[i].recs) > 0 {
			continue // left by a flush that ctx interrupted: send it first
		}
		s := &p.values[i]
		s.mu.Lock()
		s.cur, p.spare[i] = p.spare[i], s.cur
		s.mu.Unlock()
	}
	for i := range p.spare {
		b := &p.spare[i]
		for sent := 0; sent < len(b.recs); {
			n, ok := p.sendValues(ctx, b, sent)
			if !ok {
				if !sleep(ctx, p.cfg.RetryEvery) {
					return false
				}
				continue
			}
			sent += n
		}
		b.reset()
	}
	return true
}

// sendValues sends up to Batch records of b from index from in one pipeline.
func (p *Publisher) sendValues(ctx context.Context, b *valueBatch, from int) (int, bool) {
	to := min(len(b.recs), from+p.cfg.Batch)
	pipe := p.cfg.Client.Pipeline()
	start := 0
	if from > 0 {
		start = b.recs[from-1].end
	}
	var stream, field any
	var lastStream, lastField string
	for _, r := range b.recs[from:to] {
		if stream == nil || r.stream != lastStream {
			stream, lastStream = r.stream, r.stream
		}
		if field == nil || r.field != lastField {
			field, lastField = r.field, r.field
		}
		// The value is read by Exec below, before b is reused: no copy needed.
		v := unsafe.String(unsafe.SliceData(b.data[start:]), r.end-start)
		pipe.Do(ctx, "XADD", stream, "MAXLEN", "~", p.maxLenArg, "*", field, v)
		start = r.end
	}
	if _, err := pipe.Exec(ctx); err != nil {
		p.failed.Add(1)
		msg := err.Error()
		p.lastErr.Store(&msg)
		return 0, false
	}
	p.sent.Add(uint64(to - from))
	return to - from, true
}

// sleep waits d or until ctx ends, reporting whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
