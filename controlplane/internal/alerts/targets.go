package alerts

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// agents returns every agent's status, read at most once per round.
func (rd *round) agents(ctx context.Context) ([]*edgeplanev1.Agent, error) {
	if rd.fleet != nil {
		return rd.fleet, nil
	}
	agents, err := rd.m.cfg.Agents.Agents(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	rd.fleet = agents
	return agents, nil
}

// checkTargets fires for each route a connected agent reports with targets but none
// healthy.
func (rd *round) checkTargets(ctx context.Context, r Rule) ([]Alert, error) {
	agents, err := rd.agents(ctx)
	if err != nil {
		return nil, err
	}
	var out []Alert
	for _, a := range agents {
		if !a.GetConnected() {
			continue // AgentDown's business; its report was cleared
		}
		for _, route := range sickRoutes(a.GetTargetHealth()) {
			out = append(out, rd.noHealthyTarget(r, a.GetNodeId(), route, a.GetTargetHealth()))
		}
	}
	return out, nil
}

// sickRoutes returns the routes of report that have targets and none healthy, sorted.
func sickRoutes(report []*edgeplanev1.TargetHealth) []string {
	healthy := map[string]bool{}
	for _, th := range report {
		healthy[th.GetRoute()] = healthy[th.GetRoute()] || th.GetHealthy()
	}
	var sick []string
	for route, ok := range healthy {
		if !ok {
			sick = append(sick, route)
		}
	}
	sort.Strings(sick)
	return sick
}

func (rd *round) noHealthyTarget(r Rule, node, route string, report []*edgeplanev1.TargetHealth) Alert {
	var detail []string
	for _, th := range report {
		if th.GetRoute() == route && len(detail) < 5 {
			detail = append(detail, fmt.Sprintf("%s since %s: %s", th.GetTarget(),
				th.GetSince().AsTime().Format(time.RFC3339), th.GetReason()))
		}
	}
	return newAlert(r, map[string]string{"node_id": node, "route": route}, rd.now,
		fmt.Sprintf("route %s has no healthy target on agent %s", route, node),
		strings.Join(detail, "; "))
}
