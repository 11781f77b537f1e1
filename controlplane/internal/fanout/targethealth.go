package fanout

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Bounds of a target health report (an agent is untrusted input).
const (
	maxHealthTargets = 1000
	maxHealthReason  = 256
	// maxHealthEvents bounds the target_unhealthy/target_healthy events one report emits;
	// further changes are logged as a count.
	maxHealthEvents = 100
)

// checkTargetHealth enforces the bounds of a target health report.
func checkTargetHealth(r *edgeplanev1.TargetHealthReport) error {
	bad := func(field, desc string) error {
		return &model.ValidationError{Violations: []model.FieldViolation{{Field: "target_health." + field, Description: desc}}}
	}
	if n := len(r.GetTargets()); n > maxHealthTargets {
		return bad("targets", fmt.Sprintf("%d entries, at most %d", n, maxHealthTargets))
	}
	for i, th := range r.GetTargets() {
		f := fmt.Sprintf("targets[%d].", i)
		switch {
		case model.ValidateName(th.GetRoute()) != nil:
			return bad(f+"route", fmt.Sprintf("%q is not a route name", clip(th.GetRoute(), 100)))
		case th.GetTarget() == "" || len(th.GetTarget()) > model.MaxTargetURLBytes:
			return bad(f+"target", fmt.Sprintf("must be 1-%d bytes", model.MaxTargetURLBytes))
		case len(th.GetReason()) > maxHealthReason:
			return bad(f+"reason", fmt.Sprintf("at most %d bytes", maxHealthReason))
		case th.GetSince() != nil && th.GetSince().CheckValid() != nil:
			return bad(f+"since", th.GetSince().CheckValid().Error())
		}
	}
	return nil
}

// targetHealth records an agent's report in its status and emits an event for each target
// whose health changed since the last report of this stream (a target first reported
// unhealthy counts as a change). A report naming the same target twice keeps the last.
func (f *Fanout) targetHealth(ctx context.Context, s *session, r *edgeplanev1.TargetHealthReport) error {
	if err := checkTargetHealth(r); err != nil {
		return err
	}
	now := clock.Now()
	for _, th := range r.GetTargets() {
		if th.GetSince() == nil || th.GetSince().AsTime().After(now) {
			th.Since = timestamppb.New(now) // the agent's clock is not trusted beyond now
		}
	}
	var prev []*edgeplanev1.TargetHealth
	s.edit(func(a *edgeplanev1.Agent) { prev, a.TargetHealth = a.TargetHealth, r.GetTargets() })
	f.rec.mark(s)
	f.emitHealthChanges(ctx, s.node, prev, r.GetTargets())
	return nil
}

type targetID struct{ route, target string }

func (f *Fanout) emitHealthChanges(ctx context.Context, node string, prev, cur []*edgeplanev1.TargetHealth) {
	was := make(map[targetID]bool, len(prev))
	for _, th := range prev {
		was[targetID{th.GetRoute(), th.GetTarget()}] = th.GetHealthy()
	}
	emitted, skipped := 0, 0
	for _, th := range cur {
		healthy, known := was[targetID{th.GetRoute(), th.GetTarget()}]
		if (known && healthy == th.GetHealthy()) || (!known && th.GetHealthy()) {
			continue
		}
		if emitted == maxHealthEvents {
			skipped++
			continue
		}
		emitted++
		f.emitHealth(ctx, node, th)
	}
	if skipped > 0 {
		f.log.WarnContext(ctx, "target health changes not emitted as events", "node_id", node, "count", skipped)
	}
}

func (f *Fanout) emitHealth(ctx context.Context, node string, th *edgeplanev1.TargetHealth) {
	if th.GetHealthy() {
		f.log.InfoContext(ctx, "target healthy again", "node_id", node, "route", th.GetRoute(), "target", th.GetTarget())
		f.cfg.Events.Emit(ctx, &event.TargetHealthy{NodeID: node, Route: th.GetRoute(), Target: th.GetTarget()})
		return
	}
	f.log.WarnContext(ctx, "target unhealthy", "node_id", node, "route", th.GetRoute(), "target", th.GetTarget(), "reason", th.GetReason())
	f.cfg.Events.Emit(ctx, &event.TargetUnhealthy{NodeID: node, Route: th.GetRoute(), Target: th.GetTarget(), Reason: th.GetReason()})
}
