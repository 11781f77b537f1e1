package apply

import (
	"context"
	"errors"
	"fmt"

	"github.com/edgeplane/edgeplane/controlplane/internal/docker"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Services runs Docker service operations (docker.Manager does). Each call is its own
// step with its own config revision for the service's endpoint.
type Services interface {
	Validate(ctx context.Context, prefix string, svc *edgeplanev1.Service) error
	Create(ctx context.Context, svc *edgeplanev1.Service) (*edgeplanev1.Service, int64, error)
	Update(ctx context.Context, svc *edgeplanev1.Service, mask []string) (*edgeplanev1.Service, int64, error)
	Delete(ctx context.Context, name, etag string) (int64, error)
}

var _ Services = (*docker.Manager)(nil)

// KindService names Docker services in ConfigChange.kind.
const KindService = "service"

// svcOp is one planned service operation.
type svcOp struct {
	action edgeplanev1.ConfigAction
	want   *edgeplanev1.Service // created or changed to
	cur    *edgeplanev1.Service // changed or deleted from
}

// planServices compares the declared services with the stored definitions.
func (s *Service) planServices(ctx context.Context, p *plan, req Request) error {
	if len(req.Services) == 0 && !req.Prune {
		return nil
	}
	defs, err := s.cfg.Store.ListServices(ctx)
	if err != nil {
		return err
	}
	byName := make(map[string]*edgeplanev1.Service, len(defs))
	for _, d := range defs {
		byName[d.GetName()] = d
	}
	named := make(map[string]bool, len(req.Services))
	for _, want := range req.Services {
		named[want.GetName()] = true
		cur, ok := byName[want.GetName()]
		if err := checkEtag(KindService, want.GetName(), want.GetEtag(), cur.GetEtag(), ok); err != nil {
			return err
		}
		p.service(cur, want)
	}
	if !req.Prune {
		return nil
	}
	for _, d := range defs {
		if !named[d.GetName()] && matches(d.GetLabels(), req.Selector) {
			p.add(KindService, d.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED, nil)
			p.svcOps = append(p.svcOps, svcOp{action: edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED, cur: d})
		}
	}
	return nil
}

// service plans one declared service against its definition cur (nil: new).
func (p *plan) service(cur, want *edgeplanev1.Service) {
	next := docker.Declared(want)
	if cur == nil {
		p.add(KindService, next.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED, nil)
		p.svcOps = append(p.svcOps, svcOp{action: edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED, want: next})
		return
	}
	if next.GetHostPort() == 0 {
		next.HostPort = cur.GetHostPort() // 0 keeps the port the service has
	}
	fields := diffFields(docker.Declared(cur), next)
	if len(fields) == 0 {
		p.add(KindService, next.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_UNCHANGED, nil)
		return
	}
	next.Etag = cur.GetEtag()
	p.add(KindService, next.GetName(), edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED, fields)
	p.svcOps = append(p.svcOps, svcOp{action: edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED, want: next, cur: cur})
}

// undoServices reverses the service operations done so far, newest first: created
// services are deleted, changed ones get their old definition back. It runs even when the
// caller is gone.
type undoServices []func(ctx context.Context) error

func (u undoServices) run(ctx context.Context, log func(ctx context.Context, err error)) {
	ctx = context.WithoutCancel(ctx)
	for i := len(u) - 1; i >= 0; i-- {
		if err := u[i](ctx); err != nil {
			log(ctx, err)
		}
	}
}

// applyServices creates and changes services (before the routes' revision). On a failure
// it undoes what it did and returns the error. It returns the undo steps for a later
// failure, and the highest endpoint revision it made.
func (s *Service) applyServices(ctx context.Context, ops []svcOp) (undoServices, int64, error) {
	var undo undoServices
	var top int64
	for _, op := range ops {
		var rev int64
		var err error
		switch op.action {
		case edgeplanev1.ConfigAction_CONFIG_ACTION_CREATED:
			_, rev, err = s.cfg.Services.Create(ctx, op.want)
			name := op.want.GetName()
			if err == nil {
				undo = append(undo, func(ctx context.Context) error { _, err := s.cfg.Services.Delete(ctx, name, ""); return err })
			}
		case edgeplanev1.ConfigAction_CONFIG_ACTION_CHANGED:
			_, rev, err = s.cfg.Services.Update(ctx, op.want, nil)
			old := docker.Declared(op.cur)
			if err == nil {
				undo = append(undo, func(ctx context.Context) error { _, _, err := s.cfg.Services.Update(ctx, old, nil); return err })
			}
		default:
			continue // deletions come after the routes' revision
		}
		if err != nil {
			undo.run(ctx, s.logUndo)
			return nil, 0, &stepError{fmt.Errorf("service %q: %w (the apply's earlier service changes were undone)", nameOf(op), err)}
		}
		top = max(top, rev)
	}
	return undo, top, nil
}

// deleteServices removes pruned services, after the routes' revision no longer names them.
func (s *Service) deleteServices(ctx context.Context, ops []svcOp) (int64, error) {
	var top int64
	var errs []error
	for _, op := range ops {
		if op.action != edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED {
			continue
		}
		rev, err := s.cfg.Services.Delete(ctx, op.cur.GetName(), op.cur.GetEtag())
		if err != nil && !errors.Is(err, model.ErrNotFound) {
			errs = append(errs, fmt.Errorf("service %q: %w", op.cur.GetName(), err))
		}
		top = max(top, rev)
	}
	return top, errors.Join(errs...)
}

func (s *Service) logUndo(ctx context.Context, err error) {
	s.log.ErrorContext(ctx, "undoing an apply's service change failed", "err", err)
}

func nameOf(op svcOp) string {
	if op.want != nil {
		return op.want.GetName()
	}
	return op.cur.GetName()
}

// stepError is a service operation's failure: final, never retried as a race.
type stepError struct{ err error }

func (e *stepError) Error() string { return e.err.Error() }
func (e *stepError) Unwrap() error { return e.err }
