package alerts_test

import (
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// A route whose targets a connected agent reports all unhealthy fires NoHealthyTarget for
// that agent and route; one healthy target again resolves it.
func TestManager_NoHealthyTarget(t *testing.T) {
	rdb := newRedis(t)
	recv := newReceiver(t, 0)
	now := timestamppb.Now()
	th := func(route, target string, healthy bool) *edgeplanev1.TargetHealth {
		return &edgeplanev1.TargetHealth{Route: route, Target: target, Healthy: healthy, Reason: "ejected", Since: now}
	}
	agents := &fakeAgents{}
	agents.set(
		&edgeplanev1.Agent{NodeId: "edge-1", Connected: true, LastSeen: now, TargetHealth: []*edgeplanev1.TargetHealth{
			th("web", "http://a:1", false), th("web", "http://b:1", false), th("api", "http://c:1", false), th("api", "http://d:1", true)}},
		// A disconnected agent's last view does not count (AgentDown covers it).
		&edgeplanev1.Agent{NodeId: "edge-2", LastSeen: now, TargetHealth: []*edgeplanev1.TargetHealth{th("api", "http://c:1", false)}},
	)
	m := startManager(t, alerts.Config{Client: rdb, Agents: agents, Webhooks: []string{recv.URL}, EvalEvery: 20 * time.Millisecond,
		Rules: []alerts.Rule{{Kind: alerts.NoHealthyTarget}}})
	waitFor(t, "NoHealthyTarget", func() bool { f, _ := recv.count("NoHealthyTarget"); return f == 1 })
	if got, want := activeIDs(t, m), []string{`NoHealthyTarget{node_id="edge-1",route="web"}`}; !slices.Equal(got, want) {
		t.Errorf("active: got %v, want %v", got, want)
	}
	if a := recv.alerts()[0]; a.Labels["route"] != "web" || a.Labels["node_id"] != "edge-1" || a.Labels["severity"] != "critical" {
		t.Errorf("labels: got %v, want route web, node_id edge-1, severity critical", a.Labels)
	}
	agents.set(&edgeplanev1.Agent{NodeId: "edge-1", Connected: true, LastSeen: now, TargetHealth: []*edgeplanev1.TargetHealth{
		th("web", "http://a:1", true), th("web", "http://b:1", false)}})
	waitFor(t, "the resolution", func() bool { _, r := recv.count("NoHealthyTarget"); return r == 1 })
}
