package state

import (
	"errors"
	"fmt"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// errDiverged: the store's changelog does not continue the history this replica applied:
// a Redis failover lost writes it had seen (acknowledged or not) and later writes reused
// their revisions. The replica reloads, advances the store's revision past its own and
// sends every agent a full snapshot.
var errDiverged = errors.New("the store's history diverged from this replica's")

// apply adds changelog entries in order; entries at or below the current revision are
// skipped, except further changes of the revision this call is applying (a batch entry
// yields several changes with one revision). A gap means entries were missed and forces a
// reload.
func (s *State) apply(changes []store.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	applying := int64(-1)
	for _, c := range changes {
		if c.Revision < s.rev || c.Revision == s.rev && c.Revision != applying {
			continue
		}
		if c.Revision != applying && c.Prev != "" && s.lastAt != "" && c.Prev != s.lastAt {
			s.diverged = true
			return fmt.Errorf("%w: revision %d follows %s, this replica applied %s", errDiverged, c.Revision, c.Prev, s.lastAt)
		}
		applying = c.Revision
		if c.Revision != s.rev+1 && c.Revision != s.rev {
			return fmt.Errorf("changelog gap: at revision %d, next entry is %d", s.rev, c.Revision)
		}
		byName, ok := s.items[c.Kind]
		if !ok {
			return fmt.Errorf("changelog entry %d has unknown kind %q", c.Revision, c.Kind)
		}
		if c.Delete {
			delete(byName, c.Name)
		} else {
			m, err := s.cfg.Store.Decode(c.Kind, c.Payload, c.Revision)
			if err != nil {
				return fmt.Errorf("changelog entry %d: %w", c.Revision, err)
			}
			byName[c.Name] = store.Item{Kind: c.Kind, Name: c.Name, Revision: c.Revision, Value: m}
		}
		if c.Kind == store.KindRoute {
			s.sorted = nil
		}
		s.rev, s.lastAt = c.Revision, c.At
		s.history = append(s.history, entry{c.Revision, c.Kind, c.Name})
	}
	s.trimLocked()
	s.notifyLocked()
	return nil
}

func (s *State) trimLocked() {
	if n := len(s.history) - s.cfg.HistoryLen; n > 0 {
		s.oldest = s.history[n-1].rev
		s.history = append(s.history[:0:0], s.history[n:]...)
	}
}

func (s *State) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}
