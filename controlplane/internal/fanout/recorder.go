package fanout

import (
	"context"
	"log/slog"
	"sync"
	"time"

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
// (cheap, called once per agent per change); a flush copies each dirty session's status once
// and writes claims, then updates, then releases, so a session's writes keep their order.
type recorder struct {
	store *store.Store
	log   *slog.Logger
	kick  chan struct{}

	mu      sync.Mutex // guards the fields below
	claims  []*session
	dirty   map[*session]struct{}
	gone    []*session    // released sessions
	flushed chan struct{} // closed and replaced after every successful flush
}

func newRecorder(s *store.Store, log *slog.Logger) *recorder {
	return &recorder{store: s, log: log, kick: make(chan struct{}, 1), dirty: map[*session]struct{}{}, flushed: make(chan struct{})}
}

// claim queues the write that makes s the owner of its node.
func (r *recorder) claim(s *session) {
	r.mu.Lock()
	r.claims = append(r.claims, s)
	r.mu.Unlock()
	r.kickSelf()
}

// mark queues a status update of s. It never blocks on the store.
func (r *recorder) mark(s *session) {
	r.mu.Lock()
	r.dirty[s] = struct{}{}
	r.mu.Unlock()
	r.kickSelf()
}

// release queues the last write of s, after which it writes nothing.
func (r *recorder) release(s *session) {
	r.mu.Lock()
	delete(r.dirty, s)
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

func (r *recorder) flush(ctx context.Context) error {
	r.mu.Lock()
	claims, dirty, gone := r.claims, r.dirty, r.gone
	r.claims, r.dirty, r.gone = nil, map[*session]struct{}{}, nil
	r.mu.Unlock()
	writes := make([]store.AgentWrite, 0, len(claims)+len(dirty)+len(gone))
	for _, s := range claims {
		writes = append(writes, store.AgentWrite{Mode: store.AgentClaim, Token: s.token, Status: s.snapshot()})
	}
	for s := range dirty {
		writes = append(writes, store.AgentWrite{Mode: store.AgentUpdate, Token: s.token, Status: s.snapshot()})
	}
	for _, s := range gone {
		writes = append(writes, store.AgentWrite{Mode: store.AgentRelease, Token: s.token, Status: s.snapshot()})
	}
	if len(writes) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.store.PutAgents(ctx, writes); err != nil {
		r.requeue(claims, dirty, gone)
		return err
	}
	r.mu.Lock()
	close(r.flushed)
	r.flushed = make(chan struct{})
	r.mu.Unlock()
	return nil
}

// requeue puts a failed flush back in front of what was queued since.
func (r *recorder) requeue(claims []*session, dirty map[*session]struct{}, gone []*session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.claims = append(claims, r.claims...)
	r.gone = append(gone, r.gone...)
	for s := range dirty {
		r.dirty[s] = struct{}{}
	}
	for _, s := range r.gone {
		delete(r.dirty, s)
	}
}
