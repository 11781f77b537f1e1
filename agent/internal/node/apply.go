package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/edgeplane/edgeplane/agent/internal/cache"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// applier is the Agent seen by the config stream.
type applier Agent

// Serving implements stream.Applier.
func (ap *applier) Serving() (int64, string) {
	s := ap.config.Load()
	return s.Revision(), s.Hash()
}

// Apply implements stream.Applier: check, build, swap, then record u in the disk cache. A
// delta costs O(what it changes) at every step, and the Ack (sent when Apply returns) follows
// the swap: the new table is already serving. The disk cache never fails an update: a
// failed write (a full disk) is logged and counted, the agent serves and acknowledges u
// from memory, and the cache is written in the background once there is space again.
func (ap *applier) Apply(ctx context.Context, u *edgeplanev1.ConfigUpdate) (string, error) {
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
	a.proxy.Swap(table)
	a.setConfig(next)
	if a.cache != nil {
		_ = a.cache.Append(u) // a failure is reported by cacheEvent and retried by the cache's Run
	}
	// Every update says whether the control plane reads compressed blocks; the publisher
	// asks at each flush.
	a.zBlocks.Store(u.GetRequestBlockEncoding() == requestlog.ZBlockEncoding)
	if ts := u.GetTelemetry(); ts != nil && !a.ownTelemetry.Load() {
		a.offerTelemetry(ts)
	}
	if a.pool != nil {
		a.pool.relay(ctx, u) // the workers serve u too before the Ack goes out
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

// servedSnapshot returns the served config as a snapshot, for the disk cache; nil before
// any config.
func (a *Agent) servedSnapshot() *edgeplanev1.ConfigUpdate {
	s := a.config.Load()
	if s == nil {
		return nil
	}
	return s.Snapshot()
}

// cacheEvent is told when writing the disk cache starts failing (err) and when it works
// again (nil).
func (a *Agent) cacheEvent(err error) {
	if err != nil {
		a.log.LogAttrs(context.Background(), slog.LevelWarn, "cannot write the config cache; serving and acknowledging configs from memory, retrying",
			slog.Any("error", err), slog.Duration("retry_every", cache.RetryEvery))
		return
	}
	a.log.LogAttrs(context.Background(), slog.LevelInfo, "config cache written again")
}

// cacheMetrics registers the disk cache's metrics.
func (a *Agent) cacheMetrics() {
	a.metrics.Registry().MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edgeplane_agent_config_cache_write_failures_total",
			Help: "Failed writes of the config cache (a full disk); the agent serves from memory and retries.",
		}, func() float64 { return float64(a.cache.Failures()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgeplane_agent_config_cache_current",
			Help: "1 when the config cache on disk holds the served revision, else 0 (not written yet, or writes failing).",
		}, func() float64 {
			if _, ok := a.cache.Persisted(); ok {
				return 1
			}
			return 0
		}),
	)
}

func (a *Agent) setConfig(s *routeset.Set) {
	a.config.Store(s)
	a.metrics.SetRevision(s.Revision())
	a.mu.Lock()
	close(a.changed)
	a.changed = make(chan struct{})
	a.mu.Unlock()
}

// loadCache serves the cached config (its snapshot and the deltas after it), if there is
// one the agent can apply. A missing cache is normal; a bad one is logged and ignored (the
// control plane will send a snapshot). A delta that does not apply ends the replay: the
// agent serves the revision before it.
func (a *Agent) loadCache(ctx context.Context) {
	if a.cfg.CacheDir == "" {
		return
	}
	snap, deltas, err := cache.Load(a.cfg.CacheDir)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	if err == nil {
		err = a.serveCached(ctx, snap, deltas)
	}
	if err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "ignoring config cache", slog.Any("error", err))
		return
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "serving cached config",
		slog.Int64("revision", a.Revision()), slog.Int("routes", a.RouteCount()), slog.Int("deltas", len(deltas)))
}

func (a *Agent) serveCached(ctx context.Context, snap *edgeplanev1.ConfigUpdate, deltas []*edgeplanev1.ConfigUpdate) error {
	next, err := (*routeset.Set)(nil).Apply(snap)
	if err != nil {
		return fmt.Errorf("cached revision %d: %w", snap.GetRevision(), err)
	}
	for _, d := range deltas {
		n, err := next.Apply(d)
		if err != nil {
			a.log.LogAttrs(ctx, slog.LevelWarn, "config cache: a delta does not apply; serving the revision before it",
				slog.Int64("revision", d.GetRevision()), slog.Any("error", err))
			break
		}
		next = n
	}
	if a.cfg.Validate != nil {
		if err := a.cfg.Validate(next.Routes()); err != nil {
			return fmt.Errorf("cached revision %d: %w", next.Revision(), err)
		}
	}
	table, err := a.proxy.Build(next)
	if err != nil {
		return fmt.Errorf("cached revision %d: %w", next.Revision(), err)
	}
	a.proxy.Swap(table)
	a.setConfig(next)
	return nil
}
