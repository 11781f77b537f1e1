package store

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// The kinds of config resources. Each has its own hash and shares the revision and the
// changelog with the others. A kind is declared once, in kindTable.
const (
	KindRoute       = "route"       // *edgeplanev1.Route
	KindCertificate = "certificate" // *edgeplanev1.TlsCertificate, private key sealed at rest
	KindChallenge   = "challenge"   // *edgeplanev1.AcmeChallenge, named by token
	KindService     = "service"     // *edgeplanev1.ServiceEndpoints
)

// ErrNoSecretsKey: a private key was to be stored but no secrets key is configured.
var ErrNoSecretsKey = errors.New("no secrets key: set --secrets-key-file to store private keys")

// kindSpec declares a config kind: its name (also its changelog "kind" field), its hash,
// its codec, and where it goes in an agent's ConfigUpdate. Adding a kind is one entry in
// kindTable.
type kindSpec struct {
	name string
	hash func(*keys) string
	// zero returns an empty message of the kind, to decode into.
	zero func() proto.Message
	// seal prepares a clone for storage (drops output-only fields, seals secrets); open
	// reverses it on a message decoded from a value written at rev. Both may be nil.
	seal func(s *Store, m proto.Message) (proto.Message, error)
	open func(s *Store, m proto.Message, rev int64) error
	// put and del add a resource, or a deleted name, to an update.
	put func(u *edgeplanev1.ConfigUpdate, m proto.Message)
	del func(u *edgeplanev1.ConfigUpdate, name string)
}

// kindTable declares every kind, in the order their hashes are read.
var kindTable = []kindSpec{
	{
		name: KindRoute, hash: func(k *keys) string { return k.routes },
		zero: func() proto.Message { return &edgeplanev1.Route{} },
		seal: sealRoute, open: openRoute,
		put: func(u *edgeplanev1.ConfigUpdate, m proto.Message) {
			u.Routes = append(u.Routes, m.(*edgeplanev1.Route))
		},
		del: func(u *edgeplanev1.ConfigUpdate, n string) { u.DeletedRoutes = append(u.DeletedRoutes, n) },
	},
	{
		name: KindCertificate, hash: func(k *keys) string { return k.certificates },
		zero: func() proto.Message { return &edgeplanev1.TlsCertificate{} },
		seal: sealCertificate, open: openCertificate,
		put: func(u *edgeplanev1.ConfigUpdate, m proto.Message) {
			u.Certificates = append(u.Certificates, m.(*edgeplanev1.TlsCertificate))
		},
		del: func(u *edgeplanev1.ConfigUpdate, n string) { u.DeletedCertificates = append(u.DeletedCertificates, n) },
	},
	{
		name: KindChallenge, hash: func(k *keys) string { return k.challenges },
		zero: func() proto.Message { return &edgeplanev1.AcmeChallenge{} },
		put: func(u *edgeplanev1.ConfigUpdate, m proto.Message) {
			u.Challenges = append(u.Challenges, m.(*edgeplanev1.AcmeChallenge))
		},
		del: func(u *edgeplanev1.ConfigUpdate, n string) { u.DeletedChallenges = append(u.DeletedChallenges, n) },
	},
	{
		name: KindService, hash: func(k *keys) string { return k.services },
		zero: func() proto.Message { return &edgeplanev1.ServiceEndpoints{} },
		put: func(u *edgeplanev1.ConfigUpdate, m proto.Message) {
			u.Services = append(u.Services, m.(*edgeplanev1.ServiceEndpoints))
		},
		del: func(u *edgeplanev1.ConfigUpdate, n string) { u.DeletedServices = append(u.DeletedServices, n) },
	},
}

// Kinds lists every kind, in the order their hashes are read.
var Kinds = func() []string {
	out := make([]string, len(kindTable))
	for i, k := range kindTable {
		out[i] = k.name
	}
	return out
}()

func specOf(kind string) (*kindSpec, error) {
	for i := range kindTable {
		if kindTable[i].name == kind {
			return &kindTable[i], nil
		}
	}
	return nil, fmt.Errorf("unknown resource kind %q", kind)
}

// AddToUpdate adds item's resource (or, with deleted, its name) to u's list for its kind.
// Unknown kinds are ignored.
func AddToUpdate(u *edgeplanev1.ConfigUpdate, kind, name string, m proto.Message, deleted bool) {
	spec, err := specOf(kind)
	if err != nil {
		return
	}
	if deleted {
		spec.del(u, name)
	} else {
		spec.put(u, m)
	}
}

// Item is one stored resource.
type Item struct {
	Kind     string
	Name     string
	Revision int64         // revision that last wrote it
	Value    proto.Message // decoded (private keys opened)
}

// Encode serializes a resource of kind for storage: deterministic protobuf, without a
// route's output-only revision and etag, with a certificate's private key sealed.
func (s *Store) Encode(kind string, m proto.Message) ([]byte, error) {
	spec, err := specOf(kind)
	if err != nil {
		return nil, err
	}
	if got := m.ProtoReflect().Descriptor().FullName(); got != spec.zero().ProtoReflect().Descriptor().FullName() {
		return nil, fmt.Errorf("encoding a %s as a %s", got, kind)
	}
	if spec.seal != nil {
		if m, err = spec.seal(s, m); err != nil {
			return nil, err
		}
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Decode reverses Encode for a resource written at rev.
func (s *Store) Decode(kind string, payload []byte, rev int64) (proto.Message, error) {
	spec, err := specOf(kind)
	if err != nil {
		return nil, err
	}
	m := spec.zero()
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, err)
	}
	if spec.open != nil {
		if err := spec.open(s, m, rev); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (s *Store) hashFor(kind string) (string, error) {
	spec, err := specOf(kind)
	if err != nil {
		return "", err
	}
	return spec.hash(&s.keys), nil
}
