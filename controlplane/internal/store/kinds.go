package store

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// The kinds of config resources. Each has its own hash and shares the revision and the
// changelog with the others.
const (
	KindRoute       = "route"       // *edgeplanev1.Route
	KindCertificate = "certificate" // *edgeplanev1.TlsCertificate, private key sealed at rest
	KindChallenge   = "challenge"   // *edgeplanev1.AcmeChallenge, named by token
	KindService     = "service"     // *edgeplanev1.ServiceEndpoints
)

// Kinds lists every kind, in the order their hashes are read.
var Kinds = []string{KindRoute, KindCertificate, KindChallenge, KindService}

// ErrNoSecretsKey: a private key was to be stored but no secrets key is configured.
var ErrNoSecretsKey = errors.New("no secrets key: set --secrets-key-file to store private keys")

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
	switch v := m.(type) {
	case *edgeplanev1.Route:
		c := proto.CloneOf(v)
		c.Revision, c.Etag = 0, ""
		m = c
	case *edgeplanev1.TlsCertificate:
		if len(v.GetPrivateKeyPem()) > 0 {
			if s.secrets == nil {
				return nil, ErrNoSecretsKey
			}
			c := proto.CloneOf(v)
			c.PrivateKeyPem = s.secrets.SealFor("certificate/"+v.GetName(), v.GetPrivateKeyPem())
			m = c
		}
	}
	if want := kindOf(m); want != kind {
		return nil, fmt.Errorf("encoding a %s as a %s", want, kind)
	}
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// Decode reverses Encode for a resource written at rev.
func (s *Store) Decode(kind string, payload []byte, rev int64) (proto.Message, error) {
	var m proto.Message
	switch kind {
	case KindRoute:
		m = &edgeplanev1.Route{}
	case KindCertificate:
		m = &edgeplanev1.TlsCertificate{}
	case KindChallenge:
		m = &edgeplanev1.AcmeChallenge{}
	case KindService:
		m = &edgeplanev1.ServiceEndpoints{}
	default:
		return nil, fmt.Errorf("unknown resource kind %q", kind)
	}
	if err := proto.Unmarshal(payload, m); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", kind, err)
	}
	switch v := m.(type) {
	case *edgeplanev1.Route:
		v.Revision, v.Etag = rev, Etag(rev)
	case *edgeplanev1.TlsCertificate:
		if len(v.GetPrivateKeyPem()) > 0 {
			if s.secrets == nil {
				return nil, fmt.Errorf("certificate %q: %w", v.GetName(), ErrNoSecretsKey)
			}
			key, err := s.secrets.OpenFor("certificate/"+v.GetName(), v.GetPrivateKeyPem())
			if err != nil {
				return nil, fmt.Errorf("certificate %q: %w", v.GetName(), err)
			}
			v.PrivateKeyPem = key
		}
	}
	return m, nil
}

func kindOf(m proto.Message) string {
	switch m.(type) {
	case *edgeplanev1.Route:
		return KindRoute
	case *edgeplanev1.TlsCertificate:
		return KindCertificate
	case *edgeplanev1.AcmeChallenge:
		return KindChallenge
	case *edgeplanev1.ServiceEndpoints:
		return KindService
	}
	return fmt.Sprintf("%T", m)
}

func (s *Store) hashFor(kind string) (string, error) {
	switch kind {
	case KindRoute:
		return s.keys.routes, nil
	case KindCertificate:
		return s.keys.certificates, nil
	case KindChallenge:
		return s.keys.challenges, nil
	case KindService:
		return s.keys.services, nil
	}
	return "", fmt.Errorf("unknown resource kind %q", kind)
}
