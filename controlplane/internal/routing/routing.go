// Package routing implements the route operations behind RoutingService: validation, etags,
// update masks and timestamps on top of the store, and consistent reads from the state.
package routing

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/page"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Service performs route operations. It is safe for concurrent use.
type Service struct {
	// Events receives route_changed for every committed write. Nil drops them.
	Events *telemetry.Events

	store *store.Store
	state *state.State
	certs *certs.SelfSigned
}

// New returns a Service.
func New(st *store.Store, s *state.State) *Service {
	return &Service{store: st, state: s, certs: &certs.SelfSigned{Store: st, State: s}}
}

// maxConflictRetries bounds the read-modify-write retries of an update without an etag.
const maxConflictRetries = 20

// Create validates and stores a new route. It returns the stored route.
func (s *Service) Create(ctx context.Context, r *edgeplanev1.Route) (*edgeplanev1.Route, error) {
	if err := model.ValidateRoute("route", r); err != nil {
		return nil, err
	}
	r = proto.CloneOf(r)
	now := timestamppb.New(clock.Now())
	r.CreateTime, r.UpdateTime = now, now
	return s.commit(ctx, r, store.MustCreate, 0)
}

// Get reads one route from the store (not the state, so a write is visible at once).
func (s *Service) Get(ctx context.Context, name string) (*edgeplanev1.Route, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, invalid("name", err)
	}
	return s.store.GetRoute(ctx, name)
}

// Update applies the fields of r named in mask (every writable field when mask is empty) to
// the stored route. With r.Etag set it fails with model.ErrConflict if the route changed
// since; without, it retries its read-modify-write until it lands on an unchanged route.
func (s *Service) Update(ctx context.Context, r *edgeplanev1.Route, mask []string) (*edgeplanev1.Route, error) {
	if r == nil {
		return nil, invalid("route", errors.New("is required"))
	}
	if err := model.ValidateName(r.GetName()); err != nil {
		return nil, invalid("route.name", err)
	}
	ifRev, err := etagRevision("route.etag", r.GetEtag())
	if err != nil {
		return nil, err
	}
	if err := checkMask(mask); err != nil {
		return nil, err
	}
	for range maxConflictRetries {
		cur, err := s.store.GetRoute(ctx, r.GetName())
		if err != nil {
			return nil, err
		}
		if ifRev != 0 && cur.GetRevision() != ifRev {
			return nil, fmt.Errorf("updating route %q: %w (have %s, route is at %s)", r.GetName(), model.ErrConflict, r.GetEtag(), cur.GetEtag())
		}
		next := applyMask(cur, r, mask)
		if err := model.ValidateRoute("route", next); err != nil {
			return nil, err
		}
		next.UpdateTime = timestamppb.New(clock.Now())
		out, err := s.commit(ctx, next, store.MustExist, cur.GetRevision())
		if errors.Is(err, model.ErrConflict) && ifRev == 0 {
			continue // changed under us; the caller did not pin a version, so redo on the new one
		}
		return out, err
	}
	return nil, fmt.Errorf("updating route %q: %w after %d attempts", r.GetName(), model.ErrConflict, maxConflictRetries)
}

// Delete removes a route, guarded by etag when it is set. It returns the new revision.
func (s *Service) Delete(ctx context.Context, name, etag string) (int64, error) {
	if err := model.ValidateName(name); err != nil {
		return 0, invalid("name", err)
	}
	ifRev, err := etagRevision("etag", etag)
	if err != nil {
		return 0, err
	}
	rev, err := s.store.Commit(ctx, store.Op{Kind: store.KindRoute, Name: name, Delete: true, Pre: store.MustExist,
		IfRevision: ifRev, Fresh: s.state.Fresh()})
	if err == nil {
		s.Events.Emit(ctx, &event.RouteChanged{Route: name, Change: "deleted", Revision: rev})
	}
	return rev, err
}

// List returns a page of routes ordered by name, read from the state once it has caught up
// with the store's current revision (so a caller's own writes are always listed).
func (s *Service) List(ctx context.Context, pageSize int, pageToken string) ([]*edgeplanev1.Route, string, int64, error) {
	rev, err := s.store.Revision(ctx)
	if err != nil {
		return nil, "", 0, err
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.state.WaitFor(wctx, rev); err != nil {
		return nil, "", 0, fmt.Errorf("listing routes: config state is behind the store: %w", model.ErrUnavailable)
	}
	all, at := s.state.Routes()
	items, next, err := page.Slice(all, (*edgeplanev1.Route).GetName, pageSize, pageToken)
	return items, next, at, err
}

func (s *Service) commit(ctx context.Context, r *edgeplanev1.Route, pre store.Precondition, ifRev int64) (*edgeplanev1.Route, error) {
	if err := certs.CheckRoute(ctx, s.store, r); err != nil {
		return nil, err
	}
	if err := s.certs.Ensure(ctx, r); err != nil { // make before break: the certificate first
		return nil, err
	}
	payload, err := s.store.Encode(store.KindRoute, r)
	if err != nil {
		return nil, err
	}
	rev, err := s.store.Commit(ctx, store.Op{Kind: store.KindRoute, Name: r.GetName(), Payload: payload, Pre: pre,
		IfRevision: ifRev, Fresh: s.state.Fresh()})
	if err != nil {
		return nil, err
	}
	s.Events.Emit(ctx, &event.RouteChanged{Route: r.GetName(), Change: "written", Revision: rev})
	m, err := s.store.Decode(store.KindRoute, payload, rev)
	if err != nil {
		return nil, err
	}
	return m.(*edgeplanev1.Route), nil
}

func etagRevision(field, etag string) (int64, error) {
	if etag == "" {
		return 0, nil
	}
	rev, err := store.ParseEtag(etag)
	if err != nil {
		return 0, invalid(field, err)
	}
	return rev, nil
}

func invalid(field string, err error) error {
	return &model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: err.Error()}}}
}
