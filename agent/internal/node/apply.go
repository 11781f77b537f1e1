package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/edgeplane/edgeplane/agent/internal/cache"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// applier is the Agent seen by the config stream.
type applier Agent

// Serving implements stream.Applier.
func (ap *applier) Serving() (int64, string) {
	s := ap.config.Load()
	return s.Revision(), s.Hash()
}

// Apply implements stream.Applier: check, build, swap, cache. If caching fails the previous
// table is swapped back, so an error always leaves the agent as it was.
func (ap *applier) Apply(_ context.Context, u *edgeplanev1.ConfigUpdate) (string, error) {
	a := (*Agent)(ap)
	prev := a.config.Load()
	next, err := a.prepare(prev, u)
	if err != nil {
		return "", err
	}
	table, err := a.proxy.Build(next)
	if err != nil {
		return "", err
	}
	old := a.proxy.Swap(table)
	if err := a.save(next); err != nil {
		a.proxy.Swap(old)
		return "", err
	}
	a.setConfig(next)
	if ts := u.GetTelemetry(); ts != nil && !a.ownTelemetry.Load() {
		a.offerTelemetry(ts)
	}
	return next.Hash(), nil
}

// prepare returns the route set after u, checked by routeset and by cfg.Validate.
func (a *Agent) prepare(prev *routeset.Set, u *edgeplanev1.ConfigUpdate) (*routeset.Set, error) {
	next, err := prev.Apply(u)
	if err != nil {
		return nil, err
	}
	if a.cfg.Validate != nil {
		if err := a.cfg.Validate(next.Routes()); err != nil {
			return nil, err
		}
	}
	return next, nil
}

func (a *Agent) save(s *routeset.Set) error {
	if a.cfg.CacheDir == "" {
		return nil
	}
	return cache.Save(a.cfg.CacheDir, s.Snapshot())
}

func (a *Agent) setConfig(s *routeset.Set) {
	a.config.Store(s)
	a.metrics.SetRevision(s.Revision())
	a.mu.Lock()
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// loadCache serves the cached config, if there is one the agent can apply. A missing cache
// is normal; a bad one is logged and ignored (the control plane will send a snapshot).
func (a *Agent) loadCache(ctx context.Context) {
	if a.cfg.CacheDir == "" {
		return
	}
	u, err := cache.Load(a.cfg.CacheDir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = a.serveCached(u)
	}
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "ignoring config cache", slog.Any("error", err))
		return
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "serving cached config",
		slog.Int64("revision", a.Revision()), slog.Int("routes", a.RouteCount()))
}

func (a *Agent) serveCached(u *edgeplanev1.ConfigUpdate) error {
	next, err := a.prepare(nil, u)
	if err != nil {
		return fmt.Errorf("cached revision %d: %w", u.GetRevision(), err)
	}
	table, err := a.proxy.Build(next)
	if err != nil {
		return fmt.Errorf("cached revision %d: %w", u.GetRevision(), err)
	}
	a.proxy.Swap(table)
	a.setConfig(next)
	return nil
}
