package fanout

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

const (
	coalesce   = 2 * time.Millisecond // gathers the acks of a fleet into one pipeline
	maxPending = 200000               // writes kept while the store is down
)

// recorder batches agent status writes into pipelines. Consecutive updates of one session
// collapse into the latest; claims and releases keep their order.
type recorder struct {
	store *store.Store
	log   *slog.Logger
	kick  chan struct{}

	mu      sync.Mutex // guards pending, last and flushed
	pending []store.AgentWrite
	last    map[string]int // token -> index in pending of its trailing update
	flushed chan struct{}  // closed and replaced after every successful flush
}

func newRecorder(s *store.Store, log *slog.Logger) *recorder {
	return &recorder{store: s, log: log, kick: make(chan struct{}, 1), last: map[string]int{}, flushed: make(chan struct{})}
}

// put queues a status write. It never blocks on the store.
func (r *recorder) put(mode store.AgentMode, token string, status *edgeplanev1.Agent) {
	r.mu.Lock()
	r.appendLocked(store.AgentWrite{Mode: mode, Token: token, Status: status})
	r.mu.Unlock()
	r.kickSelf()
}

func (r *recorder) appendLocked(w store.AgentWrite) {
	if i, ok := r.last[w.Token]; ok && w.Mode == store.AgentUpdate {
		r.pending[i].Status = w.Status
		return
	}
	if len(r.pending) >= maxPending {
		return
	}
	r.pending = append(r.pending, w)
	if w.Mode == store.AgentUpdate {
		r.last[w.Token] = len(r.pending) - 1
	} else {
		delete(r.last, w.Token)
	}
}

// Flushed returns a channel closed after the next successful flush.
func (r *recorder) Flushed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.flushed
}

func (r *recorder) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			r.flush(context.WithoutCancel(ctx)) // last statuses: disconnections
			return nil
		case <-r.kick:
		}
		time.Sleep(coalesce)
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

func (r *recorder) kickSelf() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

func (r *recorder) flush(ctx context.Context) error {
	r.mu.Lock()
	batch := r.pending
	r.pending, r.last = nil, map[string]int{}
	r.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.store.PutAgents(ctx, batch); err != nil {
		r.requeue(batch)
		return err
	}
	r.mu.Lock()
	close(r.flushed)
	r.flushed = make(chan struct{})
	r.mu.Unlock()
	return nil
}

// requeue puts a failed batch back in front of writes queued since.
func (r *recorder) requeue(batch []store.AgentWrite) {
	r.mu.Lock()
	defer r.mu.Unlock()
	newer := r.pending
	r.pending, r.last = nil, map[string]int{}
	for _, w := range append(batch, newer...) {
		r.appendLocked(w)
	}
}
