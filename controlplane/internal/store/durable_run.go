package store

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/clock"
)

// durableFullEvery is how many one-second checks pass between two full reads of the durable
// keys (a backstop for announcements missed while a replica was disconnected).
const durableFullEvery = 10

// emptyChecks is how many one-second checks a replica that holds no copy yet sees a store
// without an epoch before it starts one.
const emptyChecks = 3

// RunDurable keeps this replica's mirror of the durable state (durable.go) until ctx ends,
// and puts it back when the store was wiped. sub receives the other replicas'
// announcements (Pub/Sub; keep it apart from the write client). Errors from Redis are
// logged and retried; it returns nil when ctx ends.
func (s *Store) RunDurable(ctx context.Context, sub redis.UniversalClient, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ps := sub.Subscribe(ctx, s.keys.DurableChanged())
	defer ps.Close()
	msgs := ps.Channel()
	s.mirror.running.Store(true)
	defer s.mirror.running.Store(false)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	failing := false
	for n, full := 0, true; ; n++ {
		err := s.syncDurable(ctx, full || n%durableFullEvery == 0, log)
		switch {
		case ctx.Err() != nil:
		case err != nil && !failing:
			log.WarnContext(ctx, "cannot follow the durable state (retrying every second)", "err", err)
		case err == nil && failing:
			log.InfoContext(ctx, "following the durable state again")
		}
		failing = err != nil
		var ok bool
		if full, ok = s.awaitCheck(ctx, tick.C, msgs); !ok {
			return nil
		}
	}
}

// awaitCheck follows announced keys until the next check is due: a tick, a nudge, or
// another replica's restore (full: read every key then). It reports false when ctx ends.
func (s *Store) awaitCheck(ctx context.Context, tick <-chan time.Time, msgs <-chan *redis.Message) (full, ok bool) {
	for {
		select {
		case <-ctx.Done():
			return false, false
		case <-tick:
			return false, true
		case <-s.mirror.wake:
			return false, true
		case m, open := <-msgs:
			if !open {
				return false, false
			}
			targets, isKeys := announced(m.Payload)
			if !isKeys {
				return true, true
			}
			s.follow(ctx, targets) // the announcing replica wrote them; nothing to announce
		}
	}
}

// announced reads an announcement: the targets a replica wrote (JSON), or "restored
// <epoch>" (false).
func announced(payload string) ([]target, bool) {
	var t []target
	if strings.HasPrefix(payload, "restored ") || json.Unmarshal([]byte(payload), &t) != nil {
		return nil, false
	}
	return t, true
}

// syncDurable checks the store's epoch: the first time it takes (or makes) one and reads
// every durable key; on the same epoch it reads them all when full is set; on another it
// puts the mirror back (the store was wiped) and reads the result.
func (s *Store) syncDurable(ctx context.Context, full bool, log *slog.Logger) error {
	r, err := s.readDurable(ctx, nil)
	if err != nil {
		return err
	}
	epoch, copies := s.mirror.state()
	switch {
	case epoch == "" && r.epoch == "":
		// A new store, or one wiped under running replicas which are about to put their
		// copies back (their restore needs the epoch missing): wait a few checks first.
		if s.mirror.emptySeen++; s.mirror.emptySeen < emptyChecks {
			return nil
		}
		if err := s.rdb.SetNX(unmirrored(ctx), s.keys.Epoch(), newEpoch(), 0).Err(); err != nil {
			return mapErr(err, "starting the store's epoch")
		}
		return s.reloadDurable(ctx)
	case epoch == "":
		return s.reloadDurable(ctx)
	case r.epoch == epoch:
		if full {
			return s.refreshDurable(ctx)
		}
		return nil
	}
	done, now, err := s.restoreDurable(ctx, epoch, copies)
	if err != nil {
		return err
	}
	if done {
		log.ErrorContext(ctx, "the store lost its durable state (Redis wiped or restarted without persistence?); put back the copy held in memory: port leases, tokens, the cluster CA",
			"keys", len(copies), "epoch", now)
		s.mirror.fenced.Store(clock.Now().Add(RestoreWindow).UnixNano())
		_ = s.rdb.Publish(unmirrored(ctx), s.keys.DurableChanged(), "restored "+now).Err()
	} else {
		log.ErrorContext(ctx, "the store's durable state follows another history and its restore window has closed; this replica's copy was not put back",
			"keys", len(copies), "epoch", now)
	}
	return s.reloadDurable(ctx)
}

// durableKeys lists the store's durable keys.
func (s *Store) durableKeys(ctx context.Context) ([]string, error) {
	node, err := s.primaryFor(ctx, s.keys.revision)
	if err != nil {
		return nil, err
	}
	names, err := scanKeys(unmirrored(ctx), node, s.prefix()+"*")
	if err != nil {
		return nil, mapErr(err, "listing durable keys")
	}
	out := names[:0]
	for _, n := range names {
		if s.durable(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// reloadDurable replaces the mirror with the store's durable keys, in the store's epoch.
func (s *Store) reloadDurable(ctx context.Context) error {
	names, err := s.durableKeys(ctx)
	if err != nil {
		return err
	}
	r, err := s.readAll(ctx, names)
	if err != nil {
		return err
	}
	s.mirror.mu.Lock()
	s.mirror.epoch, s.mirror.keys = r.epoch, r.copies
	s.mirror.mu.Unlock()
	return nil
}

// refreshDurable reads every durable key, and those the mirror holds that are gone.
func (s *Store) refreshDurable(ctx context.Context) error {
	names, err := s.durableKeys(ctx)
	if err != nil {
		return err
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		seen[n] = true
	}
	for _, k := range s.mirror.held() {
		if !seen[k] {
			names = append(names, k)
		}
	}
	r, err := s.readAll(ctx, names)
	if err != nil {
		return err
	}
	if !s.mirror.apply(r.epoch, r.copies) {
		s.mirror.nudge()
	}
	return nil
}

// readAll reads names in batches; every batch must be in the same epoch.
func (s *Store) readAll(ctx context.Context, names []string) (durableRead, error) {
	const batch = 500
	all := durableRead{copies: map[string]copyOf{}}
	for i := 0; i == 0 || i < len(names); i += batch {
		var ts []target
		for _, n := range names[i:min(i+batch, len(names))] {
			ts = append(ts, target{Key: n})
		}
		r, err := s.readDurable(ctx, ts)
		if err != nil {
			return durableRead{}, err
		}
		if i > 0 && r.epoch != all.epoch {
			return durableRead{}, mapErr(redis.Nil, "reading durable state: the store changed history while being read")
		}
		all.epoch = r.epoch
		for k, c := range r.copies {
			all.copies[k] = c
		}
	}
	return all, nil
}
