package routeset

import (
	"fmt"
	"maps"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Apply returns the Set that results from applying u to s (s may be nil). A snapshot
// replaces every route; a delta must be based on s's revision (else the error wraps
// ErrBaseMismatch), upserts u.routes and removes the names in u.deleted_routes (names that
// are not present are ignored).
//
// Every route u carries is checked with Check; the error names the first bad route. s is
// never modified.
func (s *Set) Apply(u *edgeplanev1.ConfigUpdate) (*Set, error) {
	var byName map[string]*edgeplanev1.Route
	if u.GetSnapshot() {
		byName = make(map[string]*edgeplanev1.Route, len(u.GetRoutes()))
	} else {
		if base := u.GetBaseRevision(); base != s.Revision() {
			return nil, fmt.Errorf("%w: update to revision %d is based on %d, the agent serves %d",
				ErrBaseMismatch, u.GetRevision(), base, s.Revision())
		}
		byName = make(map[string]*edgeplanev1.Route, s.Len()+len(u.GetRoutes()))
		if s != nil {
			maps.Copy(byName, s.byName)
		}
	}
	if err := upsert(byName, u); err != nil {
		return nil, err
	}
	return newSet(u.GetRevision(), byName)
}

// upsert applies u's deletions and upserts to byName, checking each upserted route.
func upsert(byName map[string]*edgeplanev1.Route, u *edgeplanev1.ConfigUpdate) error {
	deleted := make(map[string]bool, len(u.GetDeletedRoutes()))
	for _, name := range u.GetDeletedRoutes() {
		deleted[name] = true
		delete(byName, name)
	}
	seen := make(map[string]bool, len(u.GetRoutes()))
	for _, r := range u.GetRoutes() {
		name := r.GetName()
		switch {
		case seen[name]:
			return fmt.Errorf("route %q: listed twice in the update", name)
		case deleted[name]:
			return fmt.Errorf("route %q: both changed and deleted in the update", name)
		}
		seen[name] = true
		if err := Check(r); err != nil {
			return err
		}
		byName[name] = r
	}
	return nil
}
