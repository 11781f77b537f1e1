package fanout

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Flush pacing: a flush waits coalesce after the first change so a fleet's acks land in one
// flush, and flushes start at least minFlushGap apart so a storm of changes costs one status
// write per agent per gap, not per change.
const (
	coalesce    = 2 * time.Millisecond
	minFlushGap = 25 * time.Millisecond
)

// recorder writes session statuses to the store in batches. Acks only mark a session dirty
// (cheap, called once per agent per change); a flush encodes each dirty session's status once
// and writes claims, then updates, then releases, so a session's writes keep their order.
type recorder struct {
	store  *store.Store
	log    *slog.Logger
	kick   chan struct{}
	kicked atomic.Bool // a kick is pending: marks need not send another

	mu      sync.Mutex // guards the fields below
	claims  []*session
	dirty   []*session    // each at most once: its dirty flag was set when it was queued
	gone    []*session    // released sessions
	flushed chan struct{} // closed and replaced after every successful flush

	// Reused by flush, which runs on one goroutine at a time.
	spare  []*session
	buf    []byte
	writes []store.AgentWrite
	ends   []int
}

func newRecorder(s *store.Store, log *slog.Logger) *recorder {
	return &recorder{store: s, log: log, kick: make(chan struct{}, 1), flushed: make(chan struct{})}
}

// claim queues the write that makes s the owner of its node.
func (r *recorder) claim(s *session) {
	r.mu.Lock()
	r.claims = append(r.claims, s)
	r.mu.Unlock()
	r.kickSelf()
}

// mark queues a status update of s. It never blocks on the store. Hot: once per ack.
func (r *recorder) mark(s *session) {
	if s.dirty.Swap(true) {
		return // queued already; the flush reads the status after clearing the flag
	}
	r.mu.Lock()
	r.dirty = append(r.dirty, s)
	r.mu.Unlock()
	if !r.kicked.Swap(true) {
		r.kickSelf()
	}
}

// release queues the last write of s, after which it writes nothing.
func (r *recorder) release(s *session) {
	r.mu.Lock()
	s.gone = true
	r.gone = append(r.gone, s)
	r.mu.Unlock()
	r.kickSelf()
}

func (r *recorder) kickSelf() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Flushed returns a channel closed after the next successful flush.
func (r *recorder) Flushed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushed
}

func (r *recorder) run(ctx context.Context) error {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			_ = r.flush(context.WithoutCancel(ctx)) // last statuses: disconnections
			return nil
		case <-r.kick:
			r.kicked.Store(false) // marks from now on kick again
		}
		time.Sleep(max(coalesce, minFlushGap-clock.Since(last)))
		last = clock.Now()
		if err := r.flush(ctx); err != nil && ctx.Err() == nil {
			r.log.WarnContext(ctx, "writing agent statuses failed; will retry", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
				r.kickSelf()
			}
		}
	}
}

// maxKeptBuf bounds the encoding buffer a flush keeps for the next one.
const maxKeptBuf = 4 << 20

func (r *recorder) flush(ctx context.Context) error {
	r.mu.Lock()
	claims, dirty, gone := r.claims, r.dirty, r.gone
	r.claims, r.dirty, r.gone = nil, r.spare[:0], nil
	r.mu.Unlock()
	r.spare = nil
	n := len(claims) + len(dirty) + len(gone)
	if n == 0 {
		r.spare = dirty
		return nil
	}
	now := timestamppb.New(clock.Now())
	buf, writes, ends := r.buf[:0], r.writes[:0], r.ends[:0]
	add := func(mode store.AgentMode, s *session) {
		var err error
		if buf, err = s.appendStatus(buf, now); err != nil { // cannot happen: the strings came in valid
			r.log.ErrorContext(ctx, "encoding agent status failed; not written", "node_id", s.node, "err", err)
			return
		}
		writes = append(writes, store.AgentWrite{Mode: mode, Token: s.token, Node: s.node})
		ends = append(ends, len(buf))
	}
	for _, s := range claims {
		add(store.AgentClaim, s)
	}
	r.mu.Lock() // for s.gone
	for i, s := range dirty {
		s.dirty.Store(false) // before the status is read: a later ack queues s again
		if s.gone {
			dirty[i] = nil // its release writes it
		}
	}
	r.mu.Unlock()
	for _, s := range dirty {
		if s != nil {
			add(store.AgentUpdate, s)
		}
	}
	for _, s := range gone {
		add(store.AgentRelease, s)
	}
	start := 0
	for i, end := range ends {
		writes[i].Encoded = buf[start:end:end]
		start = end
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := r.store.PutAgents(ctx, writes)
	clear(writes)
	if cap(buf) <= maxKeptBuf {
		r.buf, r.writes, r.ends = buf[:0], writes[:0], ends[:0]
	}
	if err != nil {
		r.requeue(claims, dirty, gone)
		return err
	}
	clear(dirty)
	r.mu.Lock()
	r.spare = dirty[:0]
	close(r.flushed)
	r.flushed = make(chan struct{})
	r.mu.Unlock()
	return nil
}

// requeue puts a failed flush back in front of what was queued since.
func (r *recorder) requeue(claims, dirty, gone []*session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claims = append(claims, r.claims...)
	r.gone = append(gone, r.gone...)
	for _, s := range dirty {
		if s != nil && !s.gone && !s.dirty.Swap(true) {
			r.dirty = append(r.dirty, s)
		}
	}
}
