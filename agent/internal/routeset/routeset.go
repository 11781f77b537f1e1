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
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// ErrBaseMismatch is wrapped by Apply when a delta is based on a revision other than the
// one the Set holds. The agent must ask for a snapshot.
var ErrBaseMismatch = errors.New("delta base revision does not match the served revision")

// Set is the complete configuration at one revision. The nil *Set is valid: it is the
// empty configuration at revision 0, served before any config arrived.
type Set struct {
	revision   int64
	routes     items[*edgeplanev1.Route]            // by name
	certs      items[*edgeplanev1.TlsCertificate]   // by name
	challenges items[*edgeplanev1.AcmeChallenge]    // by token
	services   items[*edgeplanev1.ServiceEndpoints] // by name
	hash       string
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
	return len(s.routes.sorted)
}

// Routes returns the routes of s sorted by name. Callers must not modify the slice or the
// routes.
func (s *Set) Routes() []*edgeplanev1.Route {
	if s == nil {
		return nil
	}
	return s.routes.sorted
}

// Get returns the route called name, or nil.
func (s *Set) Get(name string) *edgeplanev1.Route {
	if s == nil {
		return nil
	}
	return s.routes.by[name]
}

// Certificates returns the TLS certificates of s sorted by name. Callers must not modify
// them.
func (s *Set) Certificates() []*edgeplanev1.TlsCertificate {
	if s == nil {
		return nil
	}
	return s.certs.sorted
}

// Challenges returns the ACME HTTP-01 challenges of s sorted by token. Callers must not
// modify them.
func (s *Set) Challenges() []*edgeplanev1.AcmeChallenge {
	if s == nil {
		return nil
	}
	return s.challenges.sorted
}

// Services returns where the Docker-managed services of s run, sorted by name.
func (s *Set) Services() []*edgeplanev1.ServiceEndpoints {
	if s == nil {
		return nil
	}
	return s.services.sorted
}

// Service returns the endpoints of the service called name, or nil.
func (s *Set) Service(name string) *edgeplanev1.ServiceEndpoints {
	if s == nil {
		return nil
	}
	return s.services.by[name]
}

// Snapshot returns s as a snapshot ConfigUpdate (what the disk cache stores).
func (s *Set) Snapshot() *edgeplanev1.ConfigUpdate {
	return &edgeplanev1.ConfigUpdate{
		Revision: s.Revision(), Snapshot: true,
		Routes: s.Routes(), Certificates: s.Certificates(), Challenges: s.Challenges(), Services: s.Services(),
	}
}

// Hash returns the config hash of a Set's contents, each sorted by name (challenges by
// token): the first 16 hex digits of the SHA-256 of the deterministic protobuf encoding of
// ConfigUpdate{routes, certificates, challenges, services} (every other field unset).
// Without certificates, challenges and services it is the hash of the routes alone.
func Hash(routes []*edgeplanev1.Route, certs []*edgeplanev1.TlsCertificate, challenges []*edgeplanev1.AcmeChallenge,
	services []*edgeplanev1.ServiceEndpoints) (string, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(&edgeplanev1.ConfigUpdate{
		Routes: routes, Certificates: certs, Challenges: challenges, Services: services,
	})
	if err != nil {
		return "", fmt.Errorf("hashing config: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8]), nil
}

// HashRoutes returns Hash(routes, nil, nil, nil).
func HashRoutes(routes []*edgeplanev1.Route) (string, error) { return Hash(routes, nil, nil, nil) }
