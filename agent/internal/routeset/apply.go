package routeset

import (
	"fmt"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Apply returns the Set that results from applying u to s (s may be nil). A snapshot
// replaces everything; a delta must be based on s's revision (else the error wraps
// ErrBaseMismatch), upserts u's routes, certificates and challenges and removes the ones it
// names as deleted (names that are not present are ignored). The same goes for services'
// endpoints; a route naming a service that is absent (or has no targets) is served with 503.
//
// Every item u carries is checked (Check, CheckCertificate, CheckChallenge, CheckService), and every
// route of the result that names a certificate (TLS_MODE_CERTIFICATE) must find it in the
// result; the error names the first bad item. s is never modified.
func (s *Set) Apply(u *edgeplanev1.ConfigUpdate) (*Set, error) {
	if !u.GetSnapshot() {
		if base := u.GetBaseRevision(); base != s.Revision() {
			return nil, fmt.Errorf("%w: update to revision %d is based on %d, the agent serves %d",
				ErrBaseMismatch, u.GetRevision(), base, s.Revision())
		}
	}
	if s == nil {
		s = &Set{}
	}
	next := &Set{revision: u.GetRevision()}
	var err error
	next.routes, err = kind[*edgeplanev1.Route]{"route", (*edgeplanev1.Route).GetName, Check,
		u.GetRoutes(), u.GetDeletedRoutes()}.apply(s.routes, u.GetSnapshot())
	if err != nil {
		return nil, err
	}
	next.certs, err = kind[*edgeplanev1.TlsCertificate]{"certificate", (*edgeplanev1.TlsCertificate).GetName, CheckCertificate,
		u.GetCertificates(), u.GetDeletedCertificates()}.apply(s.certs, u.GetSnapshot())
	if err != nil {
		return nil, err
	}
	next.challenges, err = kind[*edgeplanev1.AcmeChallenge]{"challenge", (*edgeplanev1.AcmeChallenge).GetToken, CheckChallenge,
		u.GetChallenges(), u.GetDeletedChallenges()}.apply(s.challenges, u.GetSnapshot())
	if err != nil {
		return nil, err
	}
	next.services, err = kind[*edgeplanev1.ServiceEndpoints]{"service", (*edgeplanev1.ServiceEndpoints).GetName, CheckService,
		u.GetServices(), u.GetDeletedServices()}.apply(s.services, u.GetSnapshot())
	if err != nil {
		return nil, err
	}
	if err := next.checkCertificateRefs(); err != nil {
		return nil, err
	}
	next.hash, err = Hash(next.routes.sorted, next.certs.sorted, next.challenges.sorted, next.services.sorted)
	if err != nil {
		return nil, err
	}
	return next, nil
}

// checkCertificateRefs reports the first route that names a certificate s does not hold.
// Routes in TLS_MODE_ACME or TLS_MODE_SELF_SIGNED whose certificate has not arrived yet are
// not errors: they are served over HTTP, and over HTTPS with the default certificate.
func (s *Set) checkCertificateRefs() error {
	for _, r := range s.routes.sorted {
		tls := r.GetTls()
		if tls.GetMode() != edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE {
			continue
		}
		if _, ok := s.certs.by[tls.GetCertificate()]; !ok {
			return fmt.Errorf("route %q: certificate %q is not in the config", r.GetName(), tls.GetCertificate())
		}
	}
	return nil
}
