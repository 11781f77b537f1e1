// Package routeset holds the configuration an agent serves at one revision (routes, TLS
// certificates, ACME challenges and the endpoints of Docker-managed services) and moves it to the next revision by applying a
// ConfigUpdate from the control plane.
//
// A Set is immutable: Apply returns a new Set and leaves the old one as it was, so a reader
// holding a Set never sees a half-applied update. Items that a delta does not touch keep
// their pointer from one Set to the next; consumers may use that pointer identity to reuse
// work done for an unchanged route or certificate.
package routeset

import (
	"errors"
	"sync"

	"github.com/edgeplane/edgeplane/agent/internal/cowmap"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// ErrBaseMismatch is wrapped by Apply when a delta is based on a revision other than the
// one the Set holds. The agent must ask for a snapshot.
var ErrBaseMismatch = errors.New("delta base revision does not match the served revision")

// Set is the complete configuration at one revision. The nil *Set is valid: it is the
// empty configuration at revision 0, served before any config arrived.
type Set struct {
	revision   int64
	routes     cowmap.Map[*edgeplanev1.Route]            // by name
	certs      cowmap.Map[*edgeplanev1.TlsCertificate]   // by name
	challenges cowmap.Map[*edgeplanev1.AcmeChallenge]    // by token
	services   cowmap.Map[*edgeplanev1.ServiceEndpoints] // by name
	sum        digest
	hash       string
	changes    Changes
	lazy       *lazy
}

// lazy holds the sorted lists of a Set, made on first use (a delta never needs them).
type lazy struct {
	once       sync.Once
	routes     []*edgeplanev1.Route
	certs      []*edgeplanev1.TlsCertificate
	challenges []*edgeplanev1.AcmeChallenge
	services   []*edgeplanev1.ServiceEndpoints
}

func (s *Set) sorted() *lazy {
	s.lazy.once.Do(func() {
		s.lazy.routes = sortedValues(s.routes)
		s.lazy.certs = sortedValues(s.certs)
		s.lazy.challenges = sortedValues(s.challenges)
		s.lazy.services = sortedValues(s.services)
	})
	return s.lazy
}

// Changes says how a Set differs from the one Apply made it from: everything (Snapshot),
// or the keys of the items a delta upserted or deleted, by kind.
type Changes struct {
	Snapshot bool
	// Base is the revision of the Set the delta was applied to.
	Base                                       int64
	Routes, Certificates, Challenges, Services []string
}

// Changes returns what the update that made s changed; for the nil Set, a Snapshot.
func (s *Set) Changes() Changes {
	if s == nil {
		return Changes{Snapshot: true}
	}
	return s.changes
}

// Revision returns the config revision of s.
func (s *Set) Revision() int64 {
	if s == nil {
		return 0
	}
	return s.revision
}

// Hash returns the config hash of s (see Hash); "" for the nil Set.
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
	return s.routes.Len()
}

// Routes returns the routes of s sorted by name (sorted on first use: O(n log n) once per
// Set). Callers must not modify the slice or the routes.
func (s *Set) Routes() []*edgeplanev1.Route {
	if s == nil {
		return nil
	}
	return s.sorted().routes
}

// Get returns the route called name, or nil.
func (s *Set) Get(name string) *edgeplanev1.Route {
	if s == nil {
		return nil
	}
	r, _ := s.routes.Get(name)
	return r
}

// Certificates returns the TLS certificates of s sorted by name. Callers must not modify
// them.
func (s *Set) Certificates() []*edgeplanev1.TlsCertificate {
	if s == nil {
		return nil
	}
	return s.sorted().certs
}

// Challenges returns the ACME HTTP-01 challenges of s sorted by token. Callers must not
// modify them.
func (s *Set) Challenges() []*edgeplanev1.AcmeChallenge {
	if s == nil {
		return nil
	}
	return s.sorted().challenges
}

// Services returns where the Docker-managed services of s run, sorted by name.
func (s *Set) Services() []*edgeplanev1.ServiceEndpoints {
	if s == nil {
		return nil
	}
	return s.sorted().services
}

// Service returns the endpoints of the service called name, or nil.
func (s *Set) Service(name string) *edgeplanev1.ServiceEndpoints {
	if s == nil {
		return nil
	}
	v, _ := s.services.Get(name)
	return v
}

// Snapshot returns s as a snapshot ConfigUpdate (what the disk cache stores).
func (s *Set) Snapshot() *edgeplanev1.ConfigUpdate {
	return &edgeplanev1.ConfigUpdate{
		Revision: s.Revision(), Snapshot: true,
		Routes: s.Routes(), Certificates: s.Certificates(), Challenges: s.Challenges(), Services: s.Services(),
	}
}

// Hash returns the config hash of a config's contents, in any order: the first 16 hex
// digits of the SHA-256 of the digest of its items, where each item counts for the SHA-256 of
// its kind's ConfigUpdate field number and its deterministic protobuf encoding, and the
// digest sums those hashes lane by lane (see digest). Equal contents give equal hashes
// however they arrived; Apply keeps a Set's hash up to date item by item.
func Hash(routes []*edgeplanev1.Route, certs []*edgeplanev1.TlsCertificate, challenges []*edgeplanev1.AcmeChallenge,
	services []*edgeplanev1.ServiceEndpoints) (string, error) {
	var d digest
	for _, r := range routes {
		if err := d.add(tagRoute, r); err != nil {
			return "", err
		}
	}
	for _, c := range certs {
		if err := d.add(tagCertificate, c); err != nil {
			return "", err
		}
	}
	for _, c := range challenges {
		if err := d.add(tagChallenge, c); err != nil {
			return "", err
		}
	}
	for _, sv := range services {
		if err := d.add(tagService, sv); err != nil {
			return "", err
		}
	}
	return d.String(), nil
}

// HashRoutes returns Hash(routes, nil, nil, nil).
func HashRoutes(routes []*edgeplanev1.Route) (string, error) { return Hash(routes, nil, nil, nil) }
