package state

import (
	"fmt"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// apply adds changelog entries in order; entries at or below the current revision are
// skipped. A gap means entries were missed and forces a reload.
func (s *State) apply(changes []store.Change) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range changes {
		if c.Revision <= s.rev {
			continue
		}
		if c.Revision != s.rev+1 {
			return fmt.Errorf("changelog gap: at revision %d, next entry is %d", s.rev, c.Revision)
		}
		if c.Kind == store.KindRoute {
			if c.Delete {
				delete(s.routes, c.Name)
			} else {
				r, err := store.UnmarshalRoute(c.Payload, c.Revision)
				if err != nil {
					return fmt.Errorf("changelog entry %d: %w", c.Revision, err)
				}
				s.routes[c.Name] = r
			}
			s.sorted = nil
		}
		s.rev = c.Revision
		s.history = append(s.history, entry{c.Revision, c.Name})
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
