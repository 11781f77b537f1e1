package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// An agent's view of its targets reaches FleetService, the events stream, its Prometheus
// gauge and the NoHealthyTarget alert: one target killed is reported unhealthy; both
// killed, the route has no healthy target on that agent and the alert fires; once the
// passive cooldown ends the targets are reported healthy again and it resolves.
func TestFleet_TargetHealthEventsAndAlert(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	metricsAddr := freeAddr(t)
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir(), "--metrics-addr", metricsAddr)
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 1) })
	t1, t2 := startTarget(t, "t1", 200), startTarget(t, "t2", 200)
	create(t, cp, &edgeplanev1.Route{Name: "solo", Hosts: []string{"solo.test"}, Targets: weighted([]string{t1.URL, t2.URL}, 1, 1),
		OutlierDetection: &edgeplanev1.OutlierDetection{ConsecutiveFailures: 1, BaseEjectionTime: durationpb.New(5 * time.Second),
			MaxEjectionTime: durationpb.New(5 * time.Second)}}) // re-ejections do not lengthen the cooldown
	ag.expectServes("solo.test", "/", http.StatusOK, "t")
	eventually(t, 10*time.Second, func() error { return wantHealth(t, cp, map[string]bool{t1.URL: true, t2.URL: true}) })

	t1.Kill()
	load(t, ag, http.MethodGet, "solo.test", 4, 1) // one of them tries t1 and ejects it (then retries on t2)
	eventually(t, 10*time.Second, func() error { return wantHealth(t, cp, map[string]bool{t1.URL: false, t2.URL: true}) })
	// As the README shows it, with grpcurl.
	out, err := exec.Command(grpcurlPath(t), "-plaintext", "-d", `{"nodeId":"edge-1"}`, cp.Addr, "edgeplane.v1.FleetService/GetAgent").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"targetHealth"`) || !strings.Contains(string(out), `"reason": "ejected after 1 consecutive failures`) {
		t.Errorf("grpcurl GetAgent: got %v\n%s\nwant targetHealth with the ejected target's reason", err, out)
	}
	if got := scrape(t, metricsAddr).sum("edgeplane_agent_target_healthy", `route="solo"`, `target="`+t1.URL+`"`); got != 0 {
		t.Errorf("edgeplane_agent_target_healthy of the killed target: got %v, want 0", got)
	}
	t2.Kill()
	// Requests keep coming until the alert fires, so a target whose cooldown ends is
	// ejected again at once: the route stays without a healthy target however late the
	// evaluation round comes on a busy machine.
	stop := make(chan struct{})
	loaded := make(chan struct{})
	go func() {
		defer close(loaded)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				load(t, ag, http.MethodGet, "solo.test", 2, 1)
			}
		}
	}()
	eventually(t, 30*time.Second, func() error { return logged(cp, "alert firing", "NoHealthyTarget", `"route":"solo"`) })
	close(stop)
	<-loaded
	// The cooldown ends: passive health lets the targets back in and reports them healthy.
	eventually(t, 30*time.Second, func() error { return logged(cp, "alert resolved", "NoHealthyTarget", `"route":"solo"`) })

	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	eventually(t, 10*time.Second, func() error {
		msgs, err := rdb.XRange(t.Context(), "events:all:stream", "-", "+").Result()
		if err != nil {
			return err
		}
		var got []string
		for _, m := range msgs {
			if et := fmt.Sprint(m.Values["event_type"]); strings.HasPrefix(et, "target_") && m.Values["route"] == "solo" {
				got = append(got, fmt.Sprintf("%s %s %s", et, m.Values["node_id"], m.Values["target"]))
			}
		}
		for _, want := range []string{"target_unhealthy edge-1 " + t1.URL, "target_unhealthy edge-1 " + t2.URL,
			"target_healthy edge-1 " + t1.URL, "target_healthy edge-1 " + t2.URL} {
			if !contains(got, want) {
				return fmt.Errorf("events: got %q, want %q among them", got, want)
			}
		}
		return nil
	})
}

// wantHealth checks the route "solo" targets' health as FleetService.GetAgent reports it.
func wantHealth(t *testing.T, cp *control, want map[string]bool) error {
	res, err := cp.Fleet().GetAgent(t.Context(), &edgeplanev1.GetAgentRequest{NodeId: "edge-1"})
	if err != nil {
		return err
	}
	got := map[string]bool{}
	for _, th := range res.GetAgent().GetTargetHealth() {
		if th.GetRoute() != "solo" {
			continue
		}
		got[th.GetTarget()] = th.GetHealthy()
		if !th.GetHealthy() && (!strings.Contains(th.GetReason(), "ejected") || th.GetSince() == nil) {
			return fmt.Errorf("unhealthy target %v: want a reason and a since", th)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("target health of route solo: got %v, want %v", got, want)
	}
	return nil
}

// logged checks that the process logged msg with an attribute holding each of parts.
func logged(p *control, msg string, parts ...string) error {
	for _, l := range p.Logs(msg) {
		s := fmt.Sprint(l)
		ok := true
		for _, part := range parts {
			ok = ok && strings.Contains(s, part)
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("no %q log with %q", msg, parts)
}

func contains(xs []string, x string) bool { return count(xs, x) > 0 }
