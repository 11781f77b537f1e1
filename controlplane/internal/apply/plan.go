package apply

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// plan is what an apply will do.
type plan struct {
	changes []*edgeplanev1.ConfigChange
	writes  []store.Write
	svcOps  []svcOp
	routes  []*edgeplanev1.Route // routes written, for their self-signed certificates
	// deletedCerts names the certificates the plan prunes.
	deletedCerts map[string]bool
}

// plan compares req with the current config. Every write it makes is guarded by the
// version it planned against, so a concurrent change fails the commit instead of being
// overwritten.
func (s *Service) plan(ctx context.Context, req Request) (*plan, error) {
	rev, err := s.cfg.Store.Revision(ctx)
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, stateTimeout)
	defer cancel()
	if err := s.cfg.State.WaitFor(wctx, rev); err != nil {
		return nil, fmt.Errorf("applying the config: the config state is behind the store: %w", model.ErrUnavailable)
	}
	metas, err := s.cfg.Store.ListCertMeta(ctx)
	if err != nil {
		return nil, err
	}
	p := &plan{deletedCerts: map[string]bool{}}
	if err := s.planCerts(p, req, metas); err != nil {
		return nil, err
	}
	if err := s.planRoutes(p, req); err != nil {
		return nil, err
	}
	if err := s.planServices(ctx, p, req); err != nil {
		return nil, err
	}
	if err := s.checkReferences(ctx, p, req); err != nil {
		return nil, err
	}
	slices.SortStableFunc(p.changes, func(a, b *edgeplanev1.ConfigChange) int {
		return strings.Compare(a.GetKind()+"/"+a.GetName(), b.GetKind()+"/"+b.GetName())
	})
	return p, nil
}

func (s *Service) planRoutes(p *plan, req Request) error {
	named := make(map[string]bool, len(req.Routes))
	for _, want := range req.Routes {
		named[want.GetName()] = true
		it, ok := s.cfg.State.Item(store.KindRoute, want.GetName())
		var cur *edgeplanev1.Route
		if ok {
			cur = it.Value.(*edgeplanev1.Route)
		}
		if err := checkEtag(store.KindRoute, want.GetName(), want.GetEtag(), cur.GetEtag(), ok); err != nil {
			return err
		}
		p.route(cur, want, it.Revision)
	}
	if !req.Prune {
		return nil
	}
	for _, it := range s.cfg.State.Items(store.KindRoute) {
		r := it.Value.(*edgeplanev1.Route)
		if !named[it.Name] && matches(r.GetLabels(), req.Selector) {
			p.delete(store.KindRoute, it.Name, it.Revision)
		}
	}
	return nil
}

// route plans one declared route against cur (nil: it does not exist yet).
func (p *plan) route(cur, want *edgeplanev1.Route, curRev int64) {
	next := cleanRoute(want)
	if cur == nil {
		now := timestamppb.New(clock.Now())
		next.CreateTime, next.UpdateTime = now, now
		p.add(store.KindRoute, next.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED, nil)
		p.writes = append(p.writes, store.Write{Kind: store.KindRoute, Name: next.GetName(), Value: next, Pre: store.MustCreate})
		p.routes = append(p.routes, next)
		return
	}
	fields := diffFields(cleanRoute(cur), next)
	if len(fields) == 0 {
		p.add(store.KindRoute, next.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_UNCHANGED, nil)
		return
	}
	next.CreateTime, next.UpdateTime = cur.GetCreateTime(), timestamppb.New(clock.Now())
	p.add(store.KindRoute, next.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED, fields)
	p.writes = append(p.writes, store.Write{Kind: store.KindRoute, Name: next.GetName(), Value: next,
		Pre: store.MustExist, IfVersion: curRev})
	p.routes = append(p.routes, next)
}

// cleanRoute returns a copy of r without its output-only fields.
func cleanRoute(r *edgeplanev1.Route) *edgeplanev1.Route {
	c := proto.CloneOf(r)
	c.Etag, c.Revision, c.CreateTime, c.UpdateTime = "", 0, nil, nil
	return c
}

func (s *Service) planCerts(p *plan, req Request, metas []*edgeplanev1.Certificate) error {
	byName := make(map[string]*edgeplanev1.Certificate, len(metas))
	for _, m := range metas {
		byName[m.GetName()] = m
	}
	named := make(map[string]bool, len(req.Certificates))
	for _, want := range req.Certificates {
		named[want.GetName()] = true
		cur, ok := byName[want.GetName()]
		if err := checkEtag(store.KindCertificate, want.GetName(), want.GetEtag(), cur.GetEtag(), ok); err != nil {
			return err
		}
		if ok && cur.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME {
			return fmt.Errorf("certificate %q is %s: ApplyConfig manages ACME certificates only: %w",
				cur.GetName(), cur.GetSource(), model.ErrFailedPrecondition)
		}
		p.cert(cur, want)
	}
	if !req.Prune {
		return nil
	}
	for _, m := range metas {
		if !named[m.GetName()] && m.GetSource() == edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME &&
			!strings.HasPrefix(m.GetName(), certs.ACMEPrefix) && matches(m.GetLabels(), req.Selector) {
			p.deleteCert(s, m)
		}
	}
	return nil
}

// cert plans one declared certificate against its metadata cur (nil: new).
func (p *plan) cert(cur, want *edgeplanev1.Certificate) {
	spec := certSpec(want)
	now := timestamppb.New(clock.Now())
	if cur == nil {
		meta := proto.CloneOf(spec)
		meta.Source, meta.Status = edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME, edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_PENDING
		meta.RenewTime, meta.CreateTime, meta.UpdateTime = now, now, now
		p.add(store.KindCertificate, spec.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED, nil)
		p.writes = append(p.writes, store.Write{Kind: store.MetaCertificate, Name: spec.GetName(), Value: meta, Pre: store.MustCreate})
		return
	}
	fields := diffFields(certSpec(cur), spec)
	if len(fields) == 0 {
		p.add(store.KindCertificate, spec.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_UNCHANGED, nil)
		return
	}
	meta := proto.CloneOf(cur)
	meta.Domains, meta.AcmeDirectory, meta.Labels, meta.UpdateTime = spec.GetDomains(), spec.GetAcmeDirectory(), spec.GetLabels(), now
	if slices.ContainsFunc(fields, func(f string) bool { return f != "labels" }) {
		meta.RenewTime, meta.FailureCount = now, 0 // new names: order a new certificate now
	}
	ver, _ := store.ParseEtag(cur.GetEtag())
	p.add(store.KindCertificate, spec.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED, fields)
	p.writes = append(p.writes, store.Write{Kind: store.MetaCertificate, Name: spec.GetName(), Value: meta,
		Pre: store.MustExist, IfVersion: ver})
}

// deleteCert plans the deletion of a certificate's metadata and, if agents have it, of
// its config item.
func (p *plan) deleteCert(s *Service, m *edgeplanev1.Certificate) {
	ver, _ := store.ParseEtag(m.GetEtag())
	p.add(store.KindCertificate, m.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED, nil)
	p.writes = append(p.writes, store.Write{Kind: store.MetaCertificate, Name: m.GetName(), Pre: store.MustExist, IfVersion: ver})
	if it, ok := s.cfg.State.Item(store.KindCertificate, m.GetName()); ok {
		p.writes = append(p.writes, store.Write{Kind: store.KindCertificate, Name: m.GetName(), Pre: store.MustExist, IfVersion: it.Revision})
	}
	p.deletedCerts[m.GetName()] = true
}

// certSpec is the declared part of a certificate.
func certSpec(c *edgeplanev1.Certificate) *edgeplanev1.Certificate {
	return &edgeplanev1.Certificate{Name: c.GetName(), Domains: slices.Clone(c.GetDomains()),
		AcmeDirectory: c.GetAcmeDirectory(), Labels: maps.Clone(c.GetLabels())}
}

func (p *plan) delete(kind, name string, rev int64) {
	p.add(kind, name, edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED, nil)
	p.writes = append(p.writes, store.Write{Kind: kind, Name: name, Pre: store.MustExist, IfVersion: rev})
}

func (p *plan) add(kind, name string, action edgeplanev1.ConfigAction, fields []string) {
	p.changes = append(p.changes, &edgeplanev1.ConfigChange{Kind: kind, Name: name, Action: action, Fields: fields})
}

// checkEtag fails with model.ErrConflict, naming the object, when a declared etag is not
// the object's current one.
func checkEtag(kind, name, want, have string, exists bool) error {
	switch {
	case want == "" || exists && want == have:
		return nil
	case !exists:
		return fmt.Errorf("%s %q: etag %s given but it does not exist: %w", kind, name, want, model.ErrConflict)
	}
	return fmt.Errorf("%s %q: etag %s is stale (it is at %s): %w", kind, name, want, have, model.ErrConflict)
}

// matches reports whether labels include every selector label.
func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
