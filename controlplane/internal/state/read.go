package state

import (
	"context"
	"sort"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Revision returns the revision the state is at.
func (s *State) Revision() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Fresh reports whether the state has never seen a revision: a write from this replica may
// then be the store's first (store.Op.Fresh).
func (s *State) Fresh() bool { return s.Revision() == 0 }

// Watch returns the current revision and epoch, and a channel closed at the next change.
func (s *State) Watch() (changed <-chan struct{}, rev, epoch int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed, s.rev, s.epoch
}

// WaitFor blocks until the state reaches rev or ctx ends.
func (s *State) WaitFor(ctx context.Context, rev int64) error {
	for {
		ch, cur, _ := s.Watch()
		if cur >= rev {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Routes returns every route ordered by name, and the revision. The slice and the routes are
// shared: callers must not modify them.
func (s *State) Routes() ([]*edgeplanev1.Route, int64) {
	s.mu.RLock()
	if s.sorted != nil {
		defer s.mu.RUnlock()
		return s.sorted, s.rev
	}
	s.mu.RUnlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sorted == nil {
		routes := s.items[store.KindRoute]
		out := make([]*edgeplanev1.Route, 0, len(routes))
		for _, it := range routes {
			out = append(out, it.Value.(*edgeplanev1.Route))
		}
		sort.Slice(out, func(i, j int) bool { return out[i].GetName() < out[j].GetName() })
		s.sorted = out
	}
	return s.sorted, s.rev
}

// Update returns what moves an agent serving base (in epoch) to the current revision: a delta
// when the history covers everything after base, a snapshot otherwise. It returns nil when the
// agent is already current. The result is shared and must not be modified.
func (s *State) Update(base, epoch int64) *edgeplanev1.ConfigUpdate {
	s.mu.RLock()
	defer s.mu.RUnlock()
	delta := epoch == s.epoch && base <= s.rev && base >= s.oldest
	if delta && base == s.rev {
		return nil
	}
	if !delta {
		base = -1
	}
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if c := s.cache; c != nil && c.GetRevision() == s.rev && c.GetBaseRevision() == base {
		return c
	}
	if delta {
		s.cache = s.deltaLocked(base)
	} else {
		s.cache = s.snapshotLocked()
	}
	return s.cache
}

func (s *State) deltaLocked(base int64) *edgeplanev1.ConfigUpdate {
	i := sort.Search(len(s.history), func(i int) bool { return s.history[i].rev > base })
	u := s.withSettings(&edgeplanev1.ConfigUpdate{Revision: s.rev, BaseRevision: base})
	type key struct{ kind, name string }
	seen := make(map[key]bool, len(s.history)-i)
	for _, e := range s.history[i:] {
		k := key{e.kind, e.name}
		if seen[k] {
			continue
		}
		seen[k] = true
		if it, ok := s.items[e.kind][e.name]; ok {
			put(u, it.Kind, it.Name, it.Value)
		} else {
			del(u, e.kind, e.name)
		}
	}
	sortUpdate(u)
	return u
}

// snapshotLocked returns a snapshot; its BaseRevision is -1 so the cache tells it apart.
func (s *State) snapshotLocked() *edgeplanev1.ConfigUpdate {
	u := s.withSettings(&edgeplanev1.ConfigUpdate{Revision: s.rev, Snapshot: true, BaseRevision: -1})
	u.Routes = make([]*edgeplanev1.Route, 0, len(s.items[store.KindRoute]))
	for _, byName := range s.items {
		for _, it := range byName {
			put(u, it.Kind, it.Name, it.Value)
		}
	}
	sortUpdate(u)
	return u
}

// Settings returns an update that changes nothing but carries the telemetry settings and the
// block encoding, for an agent that is current when it connects; nil when there are none.
func (s *State) Settings() *edgeplanev1.ConfigUpdate {
	if s.cfg.Telemetry == nil && s.cfg.RequestBlockEncoding == "" {
		return nil
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.withSettings(&edgeplanev1.ConfigUpdate{Revision: s.rev, BaseRevision: s.rev})
}

// withSettings sets on u what rides along in every update (Config.Telemetry and
// Config.RequestBlockEncoding) and returns it.
func (s *State) withSettings(u *edgeplanev1.ConfigUpdate) *edgeplanev1.ConfigUpdate {
	u.Telemetry, u.RequestBlockEncoding = s.cfg.Telemetry, s.cfg.RequestBlockEncoding
	return u
}

// Item returns one resource and whether it exists.
func (s *State) Item(kind, name string) (store.Item, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, ok := s.items[kind][name]
	return it, ok
}

// Items returns every resource of kind, in no particular order.
func (s *State) Items(kind string) []store.Item {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]store.Item, 0, len(s.items[kind]))
	for _, it := range s.items[kind] {
		out = append(out, it)
	}
	return out
}
