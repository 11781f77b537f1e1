package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

var wait5s = durationpb.New(5 * time.Second)

func route(name, host, target string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{host}, Targets: []*edgeplanev1.Target{{Url: target}}}
}

func create(t *testing.T, c *control, r *edgeplanev1.Route) *edgeplanev1.CreateRouteResponse {
	t.Helper()
	res, err := c.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: r, WaitForAgents: wait5s})
	if err != nil {
		t.Fatalf("CreateRoute %s: %v", r.GetName(), err)
	}
	return res
}

func TestRoute_ServedUpdatedDeleted(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	a, b := backend(t, "A"), backend(t, "B")
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })

	res := create(t, cp, route("web", "web.test", a))
	if p := res.GetPropagation(); p.GetAcked() != 1 || len(p.GetPending()) != 0 || len(p.GetRejected()) != 0 {
		t.Errorf("create propagation: got %v, want acked by the one agent", p)
	}
	ag.expectServes("web.test", "/x", http.StatusOK, "A /x") // served at once: the agent acked
	ag.expectServes("other.test", "/", http.StatusNotFound, "no route")

	up, err := cp.Routes().UpdateRoute(t.Context(), &edgeplanev1.UpdateRouteRequest{
		Route:         &edgeplanev1.Route{Name: "web", Targets: []*edgeplanev1.Target{{Url: b}}, Etag: res.GetRoute().GetEtag()},
		UpdateMask:    &fieldmaskpb.FieldMask{Paths: []string{"targets"}},
		WaitForAgents: wait5s,
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.GetPropagation().GetAcked() != 1 {
		t.Errorf("update propagation: got %v, want acked 1", up.GetPropagation())
	}
	ag.expectServes("web.test", "/y", http.StatusOK, "B /y")

	if _, err := cp.Routes().DeleteRoute(t.Context(), &edgeplanev1.DeleteRouteRequest{Name: "web", WaitForAgents: wait5s}); err != nil {
		t.Fatal(err)
	}
	ag.expectServes("web.test", "/y", http.StatusNotFound, "no route")
}

func connected(t *testing.T, cp *control, n int) error {
	res, err := cp.Fleet().ListAgents(t.Context(), &edgeplanev1.ListAgentsRequest{})
	if err != nil {
		return err
	}
	got := 0
	for _, a := range res.GetAgents() {
		if a.GetConnected() {
			got++
		}
	}
	if got != n {
		return fmt.Errorf("connected agents: got %d, want %d (%v)", got, n, res.GetAgents())
	}
	return nil
}

func TestCreate_InvalidRouteIsRejectedWithFieldViolations(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	create(t, cp, route("ok", "ok.test", "http://127.0.0.1:1"))
	bad := &edgeplanev1.Route{Name: "Bad_Name", Hosts: []string{"a..b"}, PathPrefix: "x", Methods: []string{"get"},
		Priority: 5000, Targets: []*edgeplanev1.Target{{Url: "ftp://x"}}}
	_, err := cp.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: bad})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("got %v, want InvalidArgument", err)
	}
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	want := []string{"route.name", "route.hosts[0]", "route.path_prefix", "route.methods[0]", "route.priority", "route.targets[0].url"}
	for _, f := range want {
		if !slices.Contains(fields, f) {
			t.Errorf("field violations %v: missing %s", fields, f)
		}
	}
	list, err := cp.Routes().ListRoutes(t.Context(), &edgeplanev1.ListRoutesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if list.GetRevision() != 1 || len(list.GetRoutes()) != 1 {
		t.Errorf("after a rejected write: got revision %d with %d routes, want 1 and 1", list.GetRevision(), len(list.GetRoutes()))
	}
	_, err = cp.Routes().UpdateRoute(t.Context(), &edgeplanev1.UpdateRouteRequest{
		Route: &edgeplanev1.Route{Name: "ok", Priority: 1, Etag: "999"}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"priority"}}})
	if status.Code(err) != codes.Aborted {
		t.Errorf("stale etag: got %v, want Aborted", err)
	}
	_, err = cp.Routes().GetRoute(t.Context(), &edgeplanev1.GetRouteRequest{Name: "missing"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("missing route: got %v, want NotFound", err)
	}
	_, err = cp.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: route("ok", "ok.test", "http://127.0.0.1:1")})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("duplicate: got %v, want AlreadyExists", err)
	}
}

// An agent that cannot apply a revision NACKs it, is reported under rejected with its error,
// keeps serving its previous config, and is not sent that revision again, even after it
// reconnects; the next change is a new attempt.
func TestWaitForAgents_NackIsReportedAndNotResent(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	// This agent refuses configs of more than one route: a config the control plane accepts
	// and the agent cannot apply.
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir(), "--max-routes", "1")
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))

	res := create(t, cp, route("second", "second.test", backend(t, "S")))
	p := res.GetPropagation()
	if len(p.GetRejected()) != 1 || p.GetRejected()[0].GetNodeId() != "edge-1" || !strings.Contains(p.GetRejected()[0].GetError(), "--max-routes 1") {
		t.Fatalf("propagation: got %v, want edge-1 rejected naming its limit", p)
	}
	nacked := res.GetRoute().GetRevision()
	ag.expectServes("web.test", "/", http.StatusOK, "A /")
	ag.expectServes("second.test", "/", http.StatusNotFound, "no route")

	got, err := cp.Fleet().GetAgent(t.Context(), &edgeplanev1.GetAgentRequest{NodeId: "edge-1"})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.GetAgent(); a.GetAppliedRevision() != nacked-1 || a.GetRejectedRevision() != nacked || a.GetLastError() == "" {
		t.Errorf("agent status: got applied %d rejected %d error %q, want %d, %d and the error",
			a.GetAppliedRevision(), a.GetRejectedRevision(), a.GetLastError(), nacked-1, nacked)
	}

	// A reconnect must not bring the rejected revision back.
	cp.Kill()
	cp.Start()
	cp.WaitServing()
	eventually(t, 30*time.Second, func() error { return connected(t, cp, 1) })

	// The next change is a new attempt: with "web" gone the whole config fits and applies.
	del, err := cp.Routes().DeleteRoute(t.Context(), &edgeplanev1.DeleteRouteRequest{Name: "web", WaitForAgents: wait5s})
	if err != nil {
		t.Fatal(err)
	}
	if del.GetPropagation().GetAcked() != 1 {
		t.Errorf("after the fix: got %v, want acked 1", del.GetPropagation())
	}
	// Updates reach the agent in order on its stream, so a (wrong) resend after the
	// reconnect came, and was logged, before the delete: once the delete's "config applied"
	// line is read, every line before it is too.
	eventually(t, 10*time.Second, func() error {
		if countRevision(ag.Logs("config applied"), del.GetPropagation().GetRevision()) == 0 {
			return fmt.Errorf("no config applied line for revision %d", del.GetPropagation().GetRevision())
		}
		return nil
	})
	if n := countRevision(ag.Logs("config rejected"), nacked); n != 1 {
		t.Errorf("revision %d was rejected %d times, want once: the control plane resent it", nacked, n)
	}
	ag.expectServes("second.test", "/", http.StatusOK, "S /")
	ag.expectServes("web.test", "/", http.StatusNotFound, "no route")
}

// A route naming a certificate that does not exist is refused by the control plane.
func TestCreate_UnknownCertificateIsInvalid(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	r := route("secure", "secure.test", "http://127.0.0.1:1")
	r.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: "missing-cert"}
	_, err := cp.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: r})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "missing-cert") {
		t.Errorf("got %v, want InvalidArgument naming the certificate", err)
	}
}

func countRevision(recs []map[string]any, rev int64) int {
	n := 0
	for _, r := range recs {
		if r["revision"] == float64(rev) {
			n++
		}
	}
	return n
}

// Two replicas on one Redis: a write through one reaches agents of the other, and either
// one lists every agent and waits for all of them.
func TestReplicas_ShareWritesAndFleet(t *testing.T) {
	rds := redistest.New(t)
	cp1 := startControl(t, rds.URL(), "cp-1")
	cp2 := startControl(t, rds.URL(), "cp-2")
	a1 := startAgent(t, cp1.Addr, "edge-1", t.TempDir())
	a2 := startAgent(t, cp2.Addr, "edge-2", t.TempDir())
	for _, cp := range []*control{cp1, cp2} {
		eventually(t, 10*time.Second, func() error { return connected(t, cp, 2) })
	}
	res := create(t, cp1, route("web", "web.test", backend(t, "A")))
	if res.GetPropagation().GetAcked() != 2 {
		t.Errorf("write via cp-1: got %v, want both agents acked", res.GetPropagation())
	}
	a1.expectServes("web.test", "/", http.StatusOK, "A /")
	a2.expectServes("web.test", "/", http.StatusOK, "A /")
	list, err := cp2.Fleet().ListAgents(t.Context(), &edgeplanev1.ListAgentsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	replicas := map[string]string{}
	for _, a := range list.GetAgents() {
		replicas[a.GetNodeId()] = a.GetReplica()
		if a.GetAppliedRevision() != res.GetRoute().GetRevision() || a.GetLabels()["zone"] != "test" {
			t.Errorf("agent %s: got revision %d labels %v, want %d and zone=test", a.GetNodeId(), a.GetAppliedRevision(), a.GetLabels(), res.GetRoute().GetRevision())
		}
	}
	if replicas["edge-1"] != "cp-1" || replicas["edge-2"] != "cp-2" {
		t.Errorf("got replicas %v, want edge-1 on cp-1 and edge-2 on cp-2", replicas)
	}
}

func TestRedisDown_WritesUnavailableAgentsServe(t *testing.T) {
	rds := redistest.NewWithOptions(t, redistest.Options{Persist: true})
	cp := startControl(t, rds.URL(), "cp-1")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))

	rds.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	_, err := cp.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route("api", "api.test", backend(t, "B"))})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("write with Redis down: got %v, want Unavailable", err)
	}
	ag.expectServes("web.test", "/", http.StatusOK, "A /")

	rds.Start()
	eventually(t, 20*time.Second, func() error {
		_, err := cp.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: route("api", "api.test", backend(t, "B"))})
		return err
	})
	ag.expectServes("api.test", "/", http.StatusOK, "B /")
	ag.expectServes("web.test", "/", http.StatusOK, "A /")
}

// A Redis that restarts without persistence comes back empty; the replica puts back the
// config it holds, so agents never get told to drop their routes.
func TestRedisWiped_ConfigIsRestoredAndAgentsKeepServing(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	create(t, cp, route("web", "web.test", backend(t, "A")))
	last := create(t, cp, route("api", "api.test", backend(t, "B"))).GetRoute().GetRevision()

	rds.Kill()
	rds.Start() // empty
	eventually(t, 20*time.Second, func() error {
		list, err := cp.Routes().ListRoutes(t.Context(), &edgeplanev1.ListRoutesRequest{})
		if err != nil {
			return err
		}
		if len(list.GetRoutes()) != 2 || list.GetRevision() != last {
			return fmt.Errorf("got %d routes at revision %d, want 2 at %d", len(list.GetRoutes()), list.GetRevision(), last)
		}
		return nil
	})
	ag.expectServes("web.test", "/", http.StatusOK, "A /")
	ag.expectServes("api.test", "/", http.StatusOK, "B /")
	eventually(t, 20*time.Second, func() error { return connected(t, cp, 1) })
	// Writes answer Unavailable ("a replica is restoring it") until the restore is
	// committed, which may be after reads already show the restored config.
	var res *edgeplanev1.CreateRouteResponse
	newRoute := route("new", "new.test", backend(t, "C"))
	eventually(t, 20*time.Second, func() error {
		var err error
		res, err = cp.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: newRoute, WaitForAgents: wait5s})
		return err
	})
	if res.GetRoute().GetRevision() != last+1 || res.GetPropagation().GetAcked() != 1 {
		t.Errorf("write after restore: got revision %d, %v; want %d acked by the agent", res.GetRoute().GetRevision(), res.GetPropagation(), last+1)
	}
	ag.expectServes("new.test", "/", http.StatusOK, "C /")
	ag.expectServes("web.test", "/", http.StatusOK, "A /")
}
