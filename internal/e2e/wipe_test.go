package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// caPins returns every CA pin a control plane logged at its starts, oldest first.
func caPins(c *control) []string {
	var pins []string
	for _, l := range c.proc.Lines() {
		if p, ok := l["ca_pin"].(string); ok {
			pins = append(pins, p)
		}
	}
	return pins
}

// Redis emptied under two running replicas (FLUSHALL) loses nothing acknowledged: the admin
// token still authorizes, a join token with uses left still enrols, no port is leased to a
// second owner, and a replica restarted afterwards loads the same cluster CA, so an agent
// with its certificate from before the wipe connects to it and gets new routes.
func TestWipe_AcknowledgedStateSurvives(t *testing.T) {
	rds := redistest.New(t)
	cp1, pin := startControlTLS(t, rds.URL(), "cp-1")
	cp2, _ := startControlTLS(t, rds.URL(), "cp-2")
	token, _ := joinToken(t, cp1, 2)
	create(t, cp1, route("web", "web.test", backend(t, "web")))
	a := startAgent(t, cp1.Addr, "edge-1", t.TempDir(), "--join-token", token, "--ca-pin", pin)
	a.expectServes("web.test", "/", 200, "web /")

	held := map[int32]string{}
	for i, cp := range []*control{cp1, cp2, cp1} {
		owner := fmt.Sprintf("job/%d", i)
		res, err := cp.Ports().AllocatePort(t.Context(), &edgeplanev1.AllocatePortRequest{Purpose: "service", Owner: owner})
		if err != nil {
			t.Fatalf("AllocatePort %s: %v", owner, err)
		}
		held[res.GetPort().GetPort()] = owner
	}

	if err := rds.Client().FlushAll(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}

	// A lease made once the replicas are back never takes a held port.
	var fresh *edgeplanev1.AllocatePortResponse
	eventually(t, 30*time.Second, func() error {
		var err error
		fresh, err = cp2.Ports().AllocatePort(t.Context(), &edgeplanev1.AllocatePortRequest{Purpose: "service", Owner: "job/after"})
		return err
	})
	if owner, ok := held[fresh.GetPort().GetPort()]; ok {
		t.Errorf("a lease after the wipe got port %d, which %s holds", fresh.GetPort().GetPort(), owner)
	}
	list, err := cp1.Ports().ListPorts(t.Context(), &edgeplanev1.ListPortsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]string{}
	for _, l := range list.GetPorts() {
		got[l.GetPort()] = l.GetOwner()
	}
	for port, owner := range held {
		if got[port] != owner {
			t.Errorf("after the wipe port %d is leased to %q, want %q", port, got[port], owner)
		}
	}

	// The admin token (cp2's calls carry it) still authorizes a write; the join token enrols.
	eventually(t, 30*time.Second, func() error {
		_, err := cp2.Routes().CreateRoute(t.Context(), &edgeplanev1.CreateRouteRequest{Route: route("api", "api.test", backend(t, "api"))})
		return err
	})
	eventually(t, 30*time.Second, func() error {
		_, err := enrol(t.Context(), cp1.conn, token, "edge-2")
		return err
	})

	// A replica started after the wipe loads the same CA; the agent's certificate from
	// before the wipe still opens its stream.
	cp1.Kill()
	starts := len(caPins(cp1))
	cp1.Start()
	eventually(t, 30*time.Second, func() error {
		if pins := caPins(cp1); len(pins) > starts {
			if pins[len(pins)-1] != pin {
				return fmt.Errorf("CA pin after the restart %s, want %s", pins[len(pins)-1], pin)
			}
			return nil
		}
		return errNotYet
	})
	cp1.WaitServing()
	a.expectServes("api.test", "/", 200, "api /")
	create(t, cp1, route("late", "late.test", backend(t, "late")))
	a.expectServes("late.test", "/", 200, "late /")
}
