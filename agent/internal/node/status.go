package node

import (
	"context"
	"fmt"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Ready is closed once the proxy and metrics listeners are bound; Addr, HTTPSAddr and
// MetricsAddr are valid from then on.
func (a *Agent) Ready() <-chan struct{} { return a.ready }

// Addr returns the proxy's HTTP listen address, such as "127.0.0.1:41234". Valid after
// Ready.
func (a *Agent) Addr() string { return a.frontend.HTTPAddr() }

// HTTPSAddr returns the proxy's HTTPS listen address, "" if HTTPS is disabled. Valid after
// Ready.
func (a *Agent) HTTPSAddr() string { return a.frontend.HTTPSAddr() }

// MetricsAddr returns the health endpoint's listen address. Valid after Ready.
func (a *Agent) MetricsAddr() string { return a.metricsAddr }

// NodeID returns the node id sent to the control plane.
func (a *Agent) NodeID() string { return a.cfg.NodeID }

// Revision returns the config revision being served, 0 before any config.
func (a *Agent) Revision() int64 { return a.config.Load().Revision() }

// ConfigHash returns the hash of the config being served, "" before any config.
func (a *Agent) ConfigHash() string { return a.config.Load().Hash() }

// RouteCount returns the number of routes being served.
func (a *Agent) RouteCount() int { return a.config.Load().Len() }

// Routes returns the routes being served, sorted by name. Callers must not modify them.
func (a *Agent) Routes() []*edgeplanev1.Route { return a.config.Load().Routes() }

// WaitRevision blocks until the agent serves revision rev or later, or ctx is done.
func (a *Agent) WaitRevision(ctx context.Context, rev int64) error {
	for {
		a.mu.Lock()
		ch := a.changed
		a.mu.Unlock()
		if a.Revision() >= rev {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for revision %d (serving %d): %w", rev, a.Revision(), ctx.Err())
		case <-ch:
		}
	}
}
