package fanout

import (
	"context"
	"sort"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Agents returns every agent the store knows, ordered by node id. An agent whose status has
// not been refreshed for three heartbeats (its replica died) is reported disconnected.
func (f *Fanout) Agents(ctx context.Context) ([]*edgeplanev1.Agent, error) {
	agents, err := f.cfg.Store.ListAgents(ctx)
	if err != nil {
		return nil, err
	}
	for _, a := range agents {
		f.fixConnected(a)
	}
	sort.Slice(agents, func(i, j int) bool { return agents[i].GetNodeId() < agents[j].GetNodeId() })
	return agents, nil
}

// Agent returns one agent's status; model.ErrNotFound if it never connected.
func (f *Fanout) Agent(ctx context.Context, node string) (*edgeplanev1.Agent, error) {
	a, err := f.cfg.Store.GetAgent(ctx, node)
	if err != nil {
		return nil, err
	}
	f.fixConnected(a)
	return a, nil
}

func (f *Fanout) fixConnected(a *edgeplanev1.Agent) {
	if a.GetConnected() && clock.Since(a.GetLastSeen().AsTime()) > 3*f.cfg.Heartbeat {
		a.Connected = false
	}
}

// Wait blocks until every connected agent answered revision rev (acked it or a later one, or
// rejected it), or ctx ends, and reports where the fleet stands. It fails only if the store
// cannot be read at all.
func (f *Fanout) Wait(ctx context.Context, rev int64) (*edgeplanev1.Propagation, error) {
	var last *edgeplanev1.Propagation
	for {
		flushed := f.rec.Flushed()
		agents, err := f.Agents(context.WithoutCancel(ctx))
		if err != nil {
			if last != nil {
				return last, nil
			}
			return nil, err
		}
		last = tally(agents, rev)
		if len(last.Pending) == 0 {
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, nil
		case <-flushed:
		case <-time.After(20 * time.Millisecond): // statuses written by other replicas
		}
	}
}

func tally(agents []*edgeplanev1.Agent, rev int64) *edgeplanev1.Propagation {
	p := &edgeplanev1.Propagation{Revision: rev}
	for _, a := range agents {
		switch {
		case !a.GetConnected():
		case a.GetAppliedRevision() >= rev:
			p.Acked++
		case a.GetRejectedRevision() >= rev:
			p.Rejected = append(p.Rejected, &edgeplanev1.Rejection{NodeId: a.GetNodeId(), Error: a.GetLastError()})
		default:
			p.Pending = append(p.Pending, a.GetNodeId())
		}
	}
	return p
}
