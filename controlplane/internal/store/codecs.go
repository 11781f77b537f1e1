package store

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// The kinds' codec hooks (kindTable).

// sealRoute drops a route's output-only revision and etag: the stored value's prefix holds
// the revision.
func sealRoute(_ *Store, m proto.Message) (proto.Message, error) {
	c := proto.CloneOf(m.(*edgeplanev1.Route))
	c.Revision, c.Etag = 0, ""
	return c, nil
}

func openRoute(_ *Store, m proto.Message, rev int64) error {
	v := m.(*edgeplanev1.Route)
	v.Revision, v.Etag = rev, Etag(rev)
	return nil
}

// sealCertificate seals a certificate's private key with the secrets key.
func sealCertificate(s *Store, m proto.Message) (proto.Message, error) {
	v := m.(*edgeplanev1.TlsCertificate)
	if len(v.GetPrivateKeyPem()) == 0 {
		return v, nil
	}
	if s.secrets == nil {
		return nil, ErrNoSecretsKey
	}
	c := proto.CloneOf(v)
	c.PrivateKeyPem = s.secrets.SealFor("certificate/"+v.GetName(), v.GetPrivateKeyPem())
	return c, nil
}

func openCertificate(s *Store, m proto.Message, _ int64) error {
	v := m.(*edgeplanev1.TlsCertificate)
	if len(v.GetPrivateKeyPem()) == 0 {
		return nil
	}
	if s.secrets == nil {
		return fmt.Errorf("certificate %q: %w", v.GetName(), ErrNoSecretsKey)
	}
	key, err := s.secrets.OpenFor("certificate/"+v.GetName(), v.GetPrivateKeyPem())
	if err != nil {
		return fmt.Errorf("certificate %q: %w", v.GetName(), err)
	}
	v.PrivateKeyPem = key
	return nil
}
