package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func (c *control) Config() edgeplanev1.ConfigServiceClient {
	return edgeplanev1.NewConfigServiceClient(c.conn)
}

func changeList(res *edgeplanev1.ApplyConfigResponse) string {
	var out []string
	for _, c := range res.GetChanges() {
		out = append(out, strings.TrimPrefix(c.GetAction().String(), "CONFIG_ACTION_")+" "+c.GetKind()+"/"+c.GetName())
	}
	return strings.Join(out, ", ")
}

// An apply declaring a Docker service and a route naming it runs the container and serves
// the route; an apply whose second new service fails removes the first one it created and
// changes no route; a prune removes the service after the route stopped naming it.
func TestApply_ServicesCreatedUndoneAndPruned(t *testing.T) {
	e := newDockerEnv(t)
	ag := startAgent(t, e.cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, e.cp, 1) })
	ctx := t.Context()
	team := map[string]string{"team": "svc"}
	svc := e.service("hello")
	svc.Labels = team
	route := &edgeplanev1.Route{Name: "hello", Hosts: []string{"hello.test"}, Service: "hello", Labels: team}

	res, err := e.cp.Config().ApplyConfig(ctx, &edgeplanev1.ApplyConfigRequest{Routes: []*edgeplanev1.Route{route},
		Services: []*edgeplanev1.Service{svc}, WaitForAgents: wait5s})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := changeList(res), "CREATED route/hello, CREATED service/hello"; got != want {
		t.Errorf("changes: got %s, want %s", got, want)
	}
	ag.expectServes("hello.test", "/x", http.StatusOK, "hello /x")

	third, broken := e.service("third"), e.service("broken")
	broken.Image = "edgeplane-test-no-such-image:1"
	changed := &edgeplanev1.Route{Name: "hello", Hosts: []string{"hello.test"}, Service: "third", Labels: team}
	_, err = e.cp.Config().ApplyConfig(ctx, &edgeplanev1.ApplyConfigRequest{Routes: []*edgeplanev1.Route{changed},
		Services: []*edgeplanev1.Service{svc, third, broken}})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), `service "broken"`) {
		t.Fatalf("apply with a service that cannot be created: got %v, want FailedPrecondition naming broken", err)
	}
	if _, err := e.cp.Docker().GetService(ctx, &edgeplanev1.GetServiceRequest{Name: "third"}); status.Code(err) != codes.NotFound {
		t.Errorf("service third after the failed apply: got %v, want NotFound (undone)", err)
	}
	if r, err := e.cp.Routes().GetRoute(ctx, &edgeplanev1.GetRouteRequest{Name: "hello"}); err != nil || r.GetRoute().GetService() != "hello" {
		t.Errorf("route after the failed apply: got %v %v, want it still naming hello", r.GetRoute(), err)
	}

	target := backend(t, "T")
	direct := &edgeplanev1.Route{Name: "hello", Hosts: []string{"hello.test"}, Targets: []*edgeplanev1.Target{{Url: target}}, Labels: team}
	res, err = e.cp.Config().ApplyConfig(ctx, &edgeplanev1.ApplyConfigRequest{Routes: []*edgeplanev1.Route{direct},
		Prune: true, Selector: team, WaitForAgents: wait5s})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := changeList(res), "CHANGED route/hello, DELETED service/hello"; got != want {
		t.Errorf("changes: got %s, want %s", got, want)
	}
	ag.expectServes("hello.test", "/y", http.StatusOK, "T /y")
	if _, err := e.cp.Docker().GetService(ctx, &edgeplanev1.GetServiceRequest{Name: "hello"}); status.Code(err) != codes.NotFound {
		t.Errorf("pruned service: got %v, want NotFound", err)
	}
}
