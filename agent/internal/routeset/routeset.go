// Package routeset holds the routes an agent serves at one config revision and moves them to
// the next revision by applying a ConfigUpdate from the control plane.
//
// A Set is immutable: Apply returns a new Set and leaves the old one as it was, so a reader
// holding a Set never sees a half-applied update. Routes that a delta does not touch keep
// their *edgeplanev1.Route pointer from one Set to the next; consumers may use that pointer
// identity to reuse work done for an unchanged route.
package routeset

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// ErrBaseMismatch is wrapped by Apply when a delta is based on a revision other than the
// one the Set holds. The agent must ask for a snapshot.
var ErrBaseMismatch = errors.New("delta base revision does not match the served revision")

// Set is the complete route configuration at one revision. The nil *Set is valid: it is
// the empty configuration at revision 0, served before any config arrived.
type Set struct {
	revision int64
	byName   map[string]*edgeplanev1.Route
	sorted   []*edgeplanev1.Route // by name
	hash     string
}

// Revision returns the config revision of s.
func (s *Set) Revision() int64 {
	if s == nil {
		return 0
	}
	return s.revision
}

// Hash returns the config hash of s (see HashRoutes); "" for the nil Set.
func (s *Set) Hash() string {
	if s == nil {
		return ""
	}
	return s.hash
}

// Len returns the number of routes in s.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.sorted)
}

// Routes returns the routes of s sorted by name. Callers must not modify the slice or the
// routes.
func (s *Set) Routes() []*edgeplanev1.Route {
	if s == nil {
		return nil
	}
	return s.sorted
}

// Get returns the route called name, or nil.
func (s *Set) Get(name string) *edgeplanev1.Route {
	if s == nil {
		return nil
	}
	return s.byName[name]
}

func newSet(revision int64, byName map[string]*edgeplanev1.Route) (*Set, error) {
	sorted := make([]*edgeplanev1.Route, 0, len(byName))
	for _, r := range byName {
		sorted = append(sorted, r)
	}
	slices.SortFunc(sorted, func(a, b *edgeplanev1.Route) int { return strings.Compare(a.GetName(), b.GetName()) })
	hash, err := HashRoutes(sorted)
	if err != nil {
		return nil, err
	}
	return &Set{revision: revision, byName: byName, sorted: sorted, hash: hash}, nil
}

// HashRoutes returns the config hash of routes, which must be sorted by name: the first 16
// hex digits of the SHA-256 of the deterministic protobuf encoding of
// ConfigUpdate{routes: routes} (every other field unset).
func HashRoutes(routes []*edgeplanev1.Route) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&edgeplanev1.ConfigUpdate{Routes: routes})
	if err != nil {
		return "", fmt.Errorf("hashing routes: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}
