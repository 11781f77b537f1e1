// Package state holds the whole config in memory at a revision. It loads a snapshot from the
// store once, then follows the changelog stream with blocking reads (it never polls), and
// tells watchers about every new revision. Sessions build each agent's snapshot or delta from
// it without touching Redis.
package state

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
)

// tailBlock is how long one XREAD waits for changes; after a quiet wait the state checks
// that the store was not wiped.
const tailBlock = 2 * time.Second

// Config configures a State.
type Config struct {
	// Store loads snapshots and changelog ranges. Required.
	Store *store.Store
	// Tail is the client used for blocking XREADs; keep it apart from the write client.
	// Required.
	Tail redis.UniversalClient
	// HistoryLen bounds the per-revision history kept for deltas. Default 10000.
	HistoryLen int
	// Telemetry, when set, rides along in every update (TelemetrySettings for agents).
	Telemetry *edgeplanev1.TelemetrySettings
	// RequestBlockEncoding, when set, rides along in every update: the compressed form of
	// request record blocks the consumers read (requestlog.ZBlockEncoding).
	RequestBlockEncoding string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// State is the materialized config. Its methods are safe for concurrent use.
type State struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}
	once  sync.Once
	live  atomic.Bool // following the changelog right now

	mu sync.RWMutex // guards the fields below
	// rev is the revision the config is at; epoch changes when the store's revision went
	// backwards (a wiped Redis), which invalidates every agent's revision.
	rev, epoch int64
	// lastAt is the chain mark of the changelog entry at rev ("" if unknown); diverged is
	// set when the store's history no longer continues this replica's (errDiverged).
	lastAt   string
	diverged bool
	items    map[string]map[string]store.Item // kind -> name -> item; values immutable
	sorted   []*edgeplanev1.Route             // routes by name; nil when stale
	history  []entry                          // ascending revisions
	oldest   int64                            // history covers every revision in (oldest, rev]
	changed  chan struct{}                    // closed and replaced on every change

	cacheMu sync.Mutex // guards cache
	cache   *edgeplanev1.ConfigUpdate
}

type entry struct {
	rev        int64
	kind, name string
}

// New returns a State; call Run to load and follow the store.
func New(cfg Config) *State {
	if cfg.HistoryLen <= 0 {
		cfg.HistoryLen = 10000
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &State{
		cfg:     cfg,
		log:     log,
		ready:   make(chan struct{}),
		items:   newItems(),
		changed: make(chan struct{}),
	}
}

// Ready is closed once the first snapshot is loaded.
func (s *State) Ready() <-chan struct{} { return s.ready }

// Live reports whether the state is following the changelog right now.
func (s *State) Live() bool { return s.live.Load() }

// Run loads the config and follows the changelog until ctx ends, reloading after Redis
// errors with backoff. It returns nil when ctx is cancelled.
func (s *State) Run(ctx context.Context) error {
	bo := backoff.New(backoff.Config{Min: 100 * time.Millisecond, Max: 5 * time.Second})
	for {
		err := s.follow(ctx)
		s.live.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		d := bo.Next()
		s.log.WarnContext(ctx, "config state lost the store; reloading", "err", err, "retry_in", d)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
}

// follow loads a snapshot and tails the changelog until an error.
func (s *State) follow(ctx context.Context) error {
	if err := s.load(ctx); err != nil {
		return err
	}
	s.live.Store(true)
	for {
		changes, err := s.cfg.Store.TailChangelog(ctx, s.cfg.Tail, s.Revision(), tailBlock)
		if err != nil {
			return err
		}
		if len(changes) > 0 {
			if err := s.apply(changes); err != nil {
				return err
			}
			continue
		}
		// A quiet stream may also be a Redis that came back empty (the blocking read was
		// retried on the new server): check that the revision did not go backwards.
		rev, err := s.cfg.Store.Revision(ctx)
		if err != nil {
			return err
		}
		if err := s.checkHead(ctx, rev); err != nil {
			return err
		}
	}
}

// checkHead runs when the changelog is quiet: the store's revision (rev) must not be below
// this replica's, and the store's entry at this replica's revision must be the one it
// applied (not a later write that reused the revision of one a failover lost).
func (s *State) checkHead(ctx context.Context, rev int64) error {
	s.mu.RLock()
	cur, lastAt := s.rev, s.lastAt
	s.mu.RUnlock()
	err := error(nil)
	if rev < cur {
		err = fmt.Errorf("%w: store revision went backwards from %d to %d", errDiverged, cur, rev)
	} else if lastAt != "" {
		head, rerr := s.cfg.Store.ReadChangelog(ctx, cur-1, 1)
		if rerr != nil {
			return rerr
		}
		if len(head) == 1 && head[0].Revision == cur && head[0].At != "" && head[0].At != lastAt {
			err = fmt.Errorf("%w: the store's revision %d is %s, this replica applied %s", errDiverged, cur, head[0].At, lastAt)
		}
	}
	if err != nil {
		s.mu.Lock()
		s.diverged = true
		s.mu.Unlock()
	}
	return err
}

func (s *State) load(ctx context.Context) error {
	rev, items, err := s.cfg.Store.Snapshot(ctx)
	if err != nil {
		return err
	}
	restored := rev == 0
	if restored {
		if rev, items, err = s.restore(ctx); err != nil {
			return err
		}
	}
	s.mu.RLock()
	// A store that came back empty and was refilled from memory (by this replica or
	// another) continues this replica's history unless it is behind it.
	cur, diverged := s.rev, (s.diverged && !restored) || rev < s.rev
	s.mu.RUnlock()
	if diverged {
		if rev, items, err = s.advance(ctx, cur); err != nil {
			return err
		}
	}
	changes, err := s.cfg.Store.ReadChangelog(ctx, 0, 0)
	if err != nil {
		return err
	}
	m := newItems()
	for _, it := range items {
		m[it.Kind][it.Name] = it
	}
	var hist []entry
	var later []store.Change
	lastAt := ""
	for _, c := range changes {
		switch {
		case c.Revision > rev:
			later = append(later, c)
		case diverged: // agents' revisions up to rev may name writes the store lost
		default:
			hist = append(hist, entry{c.Revision, c.Kind, c.Name})
			if c.Revision == rev {
				lastAt = c.At
			}
		}
	}
	oldest := rev
	if len(hist) > 0 {
		oldest = hist[0].rev - 1
	}
	s.mu.Lock()
	if diverged {
		s.epoch++
		s.log.WarnContext(ctx, "the store lost revisions this replica had applied (a Redis failover lost writes?); revision advanced past them, agents get full snapshots",
			"was", cur, "now", rev)
	}
	s.rev, s.items, s.sorted, s.history, s.oldest = rev, m, nil, hist, oldest
	s.lastAt, s.diverged = lastAt, false
	s.trimLocked()
	s.notifyLocked()
	s.mu.Unlock()
	s.once.Do(func() { close(s.ready) })
	s.log.InfoContext(ctx, "config state loaded", "revision", rev, "routes", len(m[store.KindRoute]))
	if len(later) > 0 {
		return s.apply(later)
	}
	return nil
}

// advance raises the store's revision above cur, the last this replica (and its agents)
// applied, and reads the store again: its config, at a revision no agent has seen.
func (s *State) advance(ctx context.Context, cur int64) (int64, []store.Item, error) {
	if _, err := s.cfg.Store.Advance(ctx, cur+1); err != nil {
		return 0, nil, err
	}
	return s.cfg.Store.Snapshot(ctx)
}

func newItems() map[string]map[string]store.Item {
	m := make(map[string]map[string]store.Item, len(store.Kinds))
	for _, k := range store.Kinds {
		m[k] = map[string]store.Item{}
	}
	return m
}

// restore puts the config this replica holds back into a store that lost it (a Redis that
// restarted without persistence), so agents are not told to drop every route, then reads
// the store again.
func (s *State) restore(ctx context.Context) (int64, []store.Item, error) {
	s.mu.RLock()
	rev := s.rev
	var items []store.Item
	for _, byName := range s.items {
		for _, it := range byName {
			items = append(items, it)
		}
	}
	s.mu.RUnlock()
	if rev > 0 {
		done, err := s.cfg.Store.Restore(ctx, rev, items)
		if err != nil {
			return 0, nil, err
		}
		if done {
			s.log.ErrorContext(ctx, "the store had lost its config (Redis restarted without persistence?); restored the config held in memory",
				"revision", rev, "items", len(items))
		}
	}
	return s.cfg.Store.Snapshot(ctx)
}
