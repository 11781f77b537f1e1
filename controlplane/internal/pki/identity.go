package pki

import (
	"crypto/x509"
	"errors"
)

// Identity is who a verified client certificate names.
type Identity struct {
	// Name is the subject's common name: a node id for agents.
	Name string
	// Role is the subject's first organizational unit ("agent", "admin", ...).
	Role string
	// Cert is the leaf.
	Cert *x509.Certificate
}

// RoleAgent is the OU of agents' certificates.
const RoleAgent = "agent"

// IdentityOf reads the identity from the leaf of a verified chain (tls.ConnectionState's
// VerifiedChains[0][0]).
func IdentityOf(leaf *x509.Certificate) (Identity, error) {
	if leaf == nil {
		return Identity{}, errors.New("no client certificate")
	}
	if leaf.Subject.CommonName == "" || len(leaf.Subject.OrganizationalUnit) == 0 {
		return Identity{}, errors.New("the client certificate names no CN or OU")
	}
	return Identity{Name: leaf.Subject.CommonName, Role: leaf.Subject.OrganizationalUnit[0], Cert: leaf}, nil
}
