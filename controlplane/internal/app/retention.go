package app

import (
	"context"
	"time"

	"github.com/edgeplane/edgeplane/internal/clock"
)

// DefaultAgentRetention is how long the status of an agent not seen is kept.
const DefaultAgentRetention = 7 * 24 * time.Hour

// pruneAgents removes the statuses of agents not seen for AgentRetention, at start and then
// every tenth of it (at most hourly), until ctx ends. Every replica does it; it is idempotent.
func (a *App) pruneAgents(ctx context.Context) error {
	keep := a.cfg.AgentRetention
	if keep <= 0 {
		keep = DefaultAgentRetention
	}
	every := min(keep/10, time.Hour)
	for {
		if n, err := a.store.PruneAgents(ctx, clock.Now().Add(-keep)); err != nil {
			a.log.WarnContext(ctx, "pruning old agent statuses", "err", err)
		} else if n > 0 {
			a.log.InfoContext(ctx, "removed the statuses of agents not seen for a while", "agents", n, "retention", keep)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(every):
		}
	}
}
