package apply

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// checkReferences fails when a route written by the plan names a certificate agents do
// not have (or one that does not cover its hosts), or when a route the apply writes or
// keeps names a certificate or a service the plan prunes.
func (s *Service) checkReferences(ctx context.Context, p *plan, req Request) error {
	index := make(map[string]int, len(req.Routes))
	for i, r := range req.Routes {
		index[r.GetName()] = i
	}
	var vs []model.FieldViolation
	written := make(map[string]bool, len(p.routes))
	for _, r := range p.routes {
		written[r.GetName()] = true
		prefix := fmt.Sprintf("routes[%d]", index[r.GetName()])
		if name := certName(r); p.deletedCerts[name] {
			vs = append(vs, model.FieldViolation{Field: prefix + ".tls.certificate",
				Description: fmt.Sprintf("certificate %q is deleted by this apply (prune)", name)})
			continue
		}
		err := certs.CheckRoute(ctx, s.cfg.Store, r)
		var verr *model.ValidationError
		if errors.As(err, &verr) {
			for _, v := range verr.Violations {
				vs = append(vs, model.FieldViolation{Field: prefix + strings.TrimPrefix(v.Field, "route"), Description: v.Description})
			}
		} else if err != nil {
			return err
		}
	}
	if len(vs) > 0 {
		return &model.ValidationError{Violations: vs}
	}
	for _, it := range s.cfg.State.Items(store.KindRoute) {
		r := it.Value.(*edgeplanev1.Route)
		if name := certName(r); !written[r.GetName()] && p.deletedCerts[name] && !p.deletes(store.KindRoute, r.GetName()) {
			return fmt.Errorf("certificate %q is used by route %q, which this apply keeps: %w", name, r.GetName(), model.ErrFailedPrecondition)
		}
	}
	return p.checkServices(s, written)
}

// checkServices fails when a route the apply writes or keeps names a service it prunes.
func (p *plan) checkServices(s *Service, written map[string]bool) error {
	for _, r := range p.routes {
		if svc := r.GetService(); svc != "" && p.deletes(KindService, svc) {
			return fmt.Errorf("route %q names service %q, which this apply prunes: %w", r.GetName(), svc, model.ErrFailedPrecondition)
		}
	}
	for _, it := range s.cfg.State.Items(store.KindRoute) {
		r := it.Value.(*edgeplanev1.Route)
		if svc := r.GetService(); svc != "" && !written[r.GetName()] && !p.deletes(store.KindRoute, r.GetName()) && p.deletes(KindService, svc) {
			return fmt.Errorf("route %q names service %q, which this apply prunes: %w", r.GetName(), svc, model.ErrFailedPrecondition)
		}
	}
	return nil
}

// certName is the certificate a TLS_MODE_CERTIFICATE route names, "" for other routes.
func certName(r *edgeplanev1.Route) string {
	if r.GetTls().GetMode() != edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE {
		return ""
	}
	return r.GetTls().GetCertificate()
}

// deletes reports whether the plan deletes the object.
func (p *plan) deletes(kind, name string) bool {
	for _, c := range p.changes {
		if c.GetKind() == kind && c.GetName() == name && c.GetAction() == edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED {
			return true
		}
	}
	return false
}
