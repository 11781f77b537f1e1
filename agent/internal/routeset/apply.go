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
//
// A delta costs O(items it carries): the new Set shares everything else with s, and its
// hash is updated item by item. Only a delta deleting certificates looks at every route
// (to find one still naming them).
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
	snap := u.GetSnapshot()
	next := &Set{revision: u.GetRevision(), lazy: &lazy{}}
	if !snap {
		next.sum = s.sum
	}
	ch := Changes{Snapshot: snap, Base: s.revision}
	var err error
	next.routes, ch.Routes, err = kind[*edgeplanev1.Route]{"route", tagRoute, (*edgeplanev1.Route).GetName, Check,
		u.GetRoutes(), u.GetDeletedRoutes()}.apply(s.routes, snap, &next.sum)
	if err != nil {
		return nil, err
	}
	next.certs, ch.Certificates, err = kind[*edgeplanev1.TlsCertificate]{"certificate", tagCertificate, (*edgeplanev1.TlsCertificate).GetName, CheckCertificate,
		u.GetCertificates(), u.GetDeletedCertificates()}.apply(s.certs, snap, &next.sum)
	if err != nil {
		return nil, err
	}
	next.challenges, ch.Challenges, err = kind[*edgeplanev1.AcmeChallenge]{"challenge", tagChallenge, (*edgeplanev1.AcmeChallenge).GetToken, CheckChallenge,
		u.GetChallenges(), u.GetDeletedChallenges()}.apply(s.challenges, snap, &next.sum)
	if err != nil {
		return nil, err
	}
	next.services, ch.Services, err = kind[*edgeplanev1.ServiceEndpoints]{"service", tagService, (*edgeplanev1.ServiceEndpoints).GetName, CheckService,
		u.GetServices(), u.GetDeletedServices()}.apply(s.services, snap, &next.sum)
	if err != nil {
		return nil, err
	}
	if snap || len(u.GetDeletedCertificates()) > 0 {
		err = next.checkCertificateRefs(next.Routes())
	} else {
		err = next.checkCertificateRefs(u.GetRoutes())
	}
	if err != nil {
		return nil, err
	}
	next.changes = ch
	next.hash = next.sum.String()
	return next, nil
}

// checkCertificateRefs reports the first of routes that names a certificate s does not hold.
// Routes in TLS_MODE_ACME or TLS_MODE_SELF_SIGNED whose certificate has not arrived yet are
// not errors: they are served over HTTP, and over HTTPS with the default certificate.
func (s *Set) checkCertificateRefs(routes []*edgeplanev1.Route) error {
	for _, r := range routes {
		tls := r.GetTls()
		if tls.GetMode() != edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE {
			continue
		}
		if _, ok := s.certs.Get(tls.GetCertificate()); !ok {
			return fmt.Errorf("route %q: certificate %q is not in the config", r.GetName(), tls.GetCertificate())
		}
	}
	return nil
}
