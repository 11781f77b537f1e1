// Package apply makes the stored routes and certificates match a declared set in one
// revision (ConfigService.ApplyConfig): it validates the whole set, computes what changes
// (created, changed with field paths, deleted, unchanged) against the current config, and
// commits every change with one store.CommitBatch, so agents go from the old config to the
// new one in a single update and a failure stores nothing.
package apply

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Config configures a Service.
type Config struct {
	// Store and State are required.
	Store *store.Store
	State *state.State
	// ACMEDirectory is the control plane's default ACME directory; empty: every declared
	// certificate needs its own acme_directory.
	ACMEDirectory string
	// Wake tells the certificate manager that certificates were declared. Nil: they are
	// found at its next scan.
	Wake func()
	// Events receives route_changed for every route the apply changed. Nil drops them.
	Events *telemetry.Events
	// Services runs Docker service operations. Nil: declaring services fails with
	// model.ErrFailedPrecondition (Docker services are disabled).
	Services Services
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Service applies declared sets. Safe for concurrent use.
type Service struct {
	cfg        Config
	log        *slog.Logger
	selfSigned *certs.SelfSigned
}

// New returns a Service.
func New(cfg Config) *Service {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, log: log, selfSigned: &certs.SelfSigned{Store: cfg.Store, State: cfg.State}}
}

// Request is a declared set.
type Request struct {
	Routes       []*edgeplanev1.Route
	Certificates []*edgeplanev1.Certificate
	Services     []*edgeplanev1.Service
	DryRun       bool
	// Prune deletes the objects whose labels include every Selector label and that the set
	// does not name.
	Prune    bool
	Selector map[string]string
}

// Result says what an apply did (or, dry, would do).
type Result struct {
	// Revision is the revision holding the change of routes and certificates (or, with
	// services only, the last revision the apply made); 0 for a dry run or when nothing
	// changed.
	Revision int64
	// Latest is the last revision the apply made (pruned services' endpoints are removed
	// after Revision): the one to wait for.
	Latest  int64
	Changes []*edgeplanev1.ConfigChange
}

// maxAttempts bounds the retries of an apply whose objects changed under it (concurrent
// writers the request did not pin with etags).
const maxAttempts = 10

// Apply validates req and applies it. Errors: *model.ValidationError for bad input,
// model.ErrConflict naming the object whose etag is stale, model.ErrFailedPrecondition
// when a route would lack its certificate, model.ErrUnavailable when the store or state
// cannot be read. Nothing is stored on any error.
func (s *Service) Apply(ctx context.Context, req Request) (Result, error) {
	if err := s.validate(ctx, req); err != nil {
		return Result{}, err
	}
	for range maxAttempts {
		p, err := s.plan(ctx, req)
		if err != nil {
			return Result{}, err
		}
		if req.DryRun || len(p.writes) == 0 && len(p.svcOps) == 0 {
			return Result{Changes: p.changes}, nil
		}
		res, err := s.run(ctx, p)
		if isRace(err) {
			continue // an object changed between the plan and the commit: plan again
		}
		if err != nil {
			return Result{}, err
		}
		s.announce(ctx, p, res.Revision)
		return res, nil
	}
	return Result{}, fmt.Errorf("applying the config: %w: objects kept changing under it (%d attempts)", model.ErrConflict, maxAttempts)
}

// run carries out a plan: services created and changed, then the routes' and
// certificates' revision, then pruned services removed.
func (s *Service) run(ctx context.Context, p *plan) (Result, error) {
	undo, svcRev, err := s.applyServices(ctx, p.svcOps)
	if err != nil {
		return Result{}, err
	}
	var rev int64
	if len(p.writes) > 0 {
		if rev, err = s.commit(ctx, p); err != nil {
			undo.run(ctx, s.logUndo)
			return Result{}, err
		}
	}
	delRev, err := s.deleteServices(ctx, p.svcOps)
	latest := max(rev, svcRev, delRev)
	if err != nil {
		return Result{}, fmt.Errorf("applied at revision %d, but removing pruned services failed: %w", latest, err)
	}
	if rev == 0 {
		rev = latest
	}
	return Result{Revision: rev, Latest: latest, Changes: p.changes}, nil
}

// commit makes the self-signed certificates the plan's routes need (make before break),
// then commits its writes.
func (s *Service) commit(ctx context.Context, p *plan) (int64, error) {
	for _, r := range p.routes {
		if err := s.selfSigned.Ensure(ctx, r); err != nil {
			return 0, err
		}
	}
	return s.cfg.Store.CommitBatch(ctx, p.writes, s.cfg.State.Fresh())
}

func isRace(err error) bool {
	var step *stepError
	if errors.As(err, &step) {
		return false
	}
	return errors.Is(err, model.ErrConflict) || errors.Is(err, model.ErrAlreadyExists) || errors.Is(err, model.ErrNotFound)
}

// announce emits route_changed per changed route and wakes the certificate manager.
func (s *Service) announce(ctx context.Context, p *plan, rev int64) {
	declared := false
	for _, c := range p.changes {
		switch {
		case c.GetAction() == edgeplanev1.ConfigAction_CONFIG_ACTION_UNCHANGED:
		case c.GetKind() == store.KindRoute:
			change := "written"
			if c.GetAction() == edgeplanev1.ConfigAction_CONFIG_ACTION_DELETED {
				change = "deleted"
			}
			s.cfg.Events.Emit(ctx, &event.RouteChanged{Route: c.GetName(), Change: change, Revision: rev, Via: "apply"})
		case c.GetKind() == store.KindCertificate:
			declared = true
		}
	}
	if declared && s.cfg.Wake != nil {
		s.cfg.Wake()
	}
}

// stateTimeout bounds the wait for the state to catch up with the store before planning.
const stateTimeout = 5 * time.Second
