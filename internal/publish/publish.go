// Package publish appends records to Redis Streams without ever making the caller wait:
// Publish copies the record into a bounded buffer and returns; one goroutine drains the
// buffer into pipelined XADDs with MAXLEN ~. When Redis is slow or gone the buffer fills and
// further records are dropped and counted, so a request or an RPC never blocks on telemetry.
package publish

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config configures a Publisher.
type Config struct {
	// Client is the publishing client (a pool apart from state writes and blocking reads).
	// Required.
	Client redis.UniversalClient
	// MaxLen caps each stream approximately (XADD MAXLEN ~). Default 100000.
	MaxLen int64
	// Buffer is how many records may wait for Redis. Default 65536. PublishValue's records
	// count apart (Buffer of them, at most 512 bytes each on average), and while a failed
	// pipeline is retried up to as many more wait in it.
	Buffer int
	// Batch is the most records sent in one pipeline. Default 512.
	Batch int
	// RetryEvery is the pause after a failed pipeline. Default 500ms.
	RetryEvery time.Duration
	// Linger is how long PublishValue's records wait for more before a pipeline goes out
	// (so one carries many). Default 5ms.
	Linger time.Duration
	// Index, when set, is given the written records that have a TraceID, with the ids Redis
	// assigned them, and its commands go out in one more pipeline after the batch's.
	Index Indexer
	// Pack, when set, packs PublishValue's records of one field many to an entry.
	Pack *Packing
}

// Indexer adds to pipe the commands that index stream's entries ids[i] under traceIDs[i].
type Indexer interface {
	Add(ctx context.Context, pipe redis.Pipeliner, stream string, traceIDs, ids []string)
}

// Record is one stream entry: its stream key and field/value pairs.
type Record struct {
	Stream string
	Values []any // field, value, field, value, ...
	// TraceID, when set, is the record's trace (32 hex digits), for Config.Index.
	TraceID string
}

// Publisher buffers and sends records. Publish and PublishValue are safe for concurrent use.
type Publisher struct {
	cfg    Config
	buf    chan Record
	values [valueShards]valueShard // PublishValue's buffers
	spare  [valueShards]valueBatch // the sender's side of values (Run only)
	// pending are the entries of the flush under way, their values in out; those before
	// next have been sent (Run only).
	pending []outEntry
	out     []byte
	next    int
	enc     []byte        // the encoded values of the flush being sent (Packing.Encode)
	ends    []int         // where each entry's encoded value ends in enc, -1 if not encoded
	wake    chan struct{} // a values buffer went from empty to not
	maxRecs int           // per values buffer
	// maxBytes bounds a values buffer's bytes; maxLenArg is MaxLen as XADD's argument.
	maxBytes  int
	maxLenArg any

	sent    atomic.Uint64
	dropped atomic.Uint64
	failed  atomic.Uint64
	lastErr atomic.Pointer[string] // the last failed pipeline's error
}

// New returns a Publisher; Run sends what it buffers.
func New(cfg Config) *Publisher {
	if cfg.MaxLen <= 0 {
		cfg.MaxLen = 100000
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 65536
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 512
	}
	if cfg.RetryEvery <= 0 {
		cfg.RetryEvery = 500 * time.Millisecond
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 5 * time.Millisecond
	}
	if cfg.Pack != nil {
		pk := *cfg.Pack
		if pk.MaxRecords <= 0 {
			pk.MaxRecords = 256
		}
		if pk.MaxBytes <= 0 {
			pk.MaxBytes = 64 << 10
		}
		cfg.Pack = &pk
	}
	shardRecs := max(1, cfg.Buffer/valueShards)
	p := &Publisher{cfg: cfg, buf: make(chan Record, cfg.Buffer), wake: make(chan struct{}, 1),
		maxRecs: shardRecs, maxBytes: shardRecs * bytesPerRecord, maxLenArg: strconv.FormatInt(cfg.MaxLen, 10)}
	return p
}

// Publish queues r. It never blocks: with the buffer full, r is dropped and counted. Hot:
// called on request paths.
func (p *Publisher) Publish(r Record) {
	select {
	case p.buf <- r:
	default:
		p.dropped.Add(1)
	}
}

// Stats are the publisher's counters since it started.
type Stats struct {
	Sent, Dropped, FailedBatches uint64
	Buffered                     int
	// LastError is the last failed pipeline's error ("" if none failed), e.g. Redis's "OOM
	// command not allowed when used memory > 'maxmemory'".
	LastError string
}

// Stats returns the counters.
func (p *Publisher) Stats() Stats {
	s := Stats{Sent: p.sent.Load(), Dropped: p.dropped.Load(), FailedBatches: p.failed.Load(),
		Buffered: len(p.buf) + p.bufferedValues()}
	if e := p.lastErr.Load(); e != nil {
		s.LastError = *e
	}
	return s
}

// Run sends buffered records until ctx ends, then makes one last attempt (bounded to a
// second) for what is left. A failed pipeline is retried after RetryEvery while records keep
// buffering (and, once the buffer is full, dropping).
func (p *Publisher) Run(ctx context.Context) error {
	batch := make([]Record, 0, p.cfg.Batch)
	for {
		select {
		case <-ctx.Done():
			last, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			defer cancel()
			p.send(last, p.drain(batch[:0]))
			p.flushValues(last, false) // what an interrupted flush left
			p.flushValues(last, false) // what is buffered
			return nil
		case <-p.wake:
			p.flushValues(ctx, true)
			continue
		case r := <-p.buf:
			batch = p.drain(append(batch[:0], r))
		}
		for !p.send(ctx, batch) {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(p.cfg.RetryEvery):
			}
		}
	}
}

// drain adds whatever is buffered, up to a batch.
func (p *Publisher) drain(batch []Record) []Record {
	for len(batch) < p.cfg.Batch {
		select {
		case r := <-p.buf:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// send writes batch in one pipeline and reports whether it went through; then it indexes
// what was written (an index failure loses only index entries and is not retried).
func (p *Publisher) send(ctx context.Context, batch []Record) bool {
	if len(batch) == 0 {
		return true
	}
	pipe := p.cfg.Client.Pipeline()
	adds := make([]*redis.StringCmd, len(batch))
	for i, r := range batch {
		adds[i] = pipe.XAdd(ctx, &redis.XAddArgs{Stream: r.Stream, MaxLen: p.cfg.MaxLen, Approx: true, Values: r.Values})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		p.failed.Add(1)
		msg := err.Error()
		p.lastErr.Store(&msg)
		return false
	}
	p.sent.Add(uint64(len(batch)))
	p.index(ctx, batch, adds)
	return true
}

func (p *Publisher) index(ctx context.Context, batch []Record, adds []*redis.StringCmd) {
	if p.cfg.Index == nil {
		return
	}
	type refs struct{ traces, ids []string }
	byStream := map[string]*refs{}
	for i, r := range batch {
		if r.TraceID == "" {
			continue
		}
		s := byStream[r.Stream]
		if s == nil {
			s = &refs{}
			byStream[r.Stream] = s
		}
		s.traces, s.ids = append(s.traces, r.TraceID), append(s.ids, adds[i].Val())
	}
	if len(byStream) == 0 {
		return
	}
	pipe := p.cfg.Client.Pipeline()
	for stream, s := range byStream {
		p.cfg.Index.Add(ctx, pipe, stream, s.traces, s.ids)
	}
	_, _ = pipe.Exec(ctx)
}
