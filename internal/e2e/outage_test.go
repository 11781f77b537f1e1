package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The replica the agents use is killed: they keep serving; one restarted meanwhile serves its
// disk cache; changes made through another replica reach both once theirs is back, by delta
// while the changelog holds them and by snapshot once it does not.
func TestControlPlaneDown_AgentsServeCacheAndCatchUp(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-edge")
	admin := startControl(t, rds.URL(), "cp-admin")
	a1 := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	a2 := startAgent(t, cp.Addr, "edge-2", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, cp, 2) })
	create(t, admin, route("web", "web.test", backend(t, "A")))

	cp.Kill()
	a1.expectServes("web.test", "/", http.StatusOK, "A /")
	a2.Kill()
	a2.Start()
	a2.WaitListening()
	a2.expectServes("web.test", "/", http.StatusOK, "A /") // from its cache, no control plane
	if len(a2.Logs("serving cached config")) != 1 {
		t.Errorf("restarted agent did not report serving its cache")
	}

	create(t, admin, route("api", "api.test", backend(t, "B"))) // while they are away
	cp.Start()
	for _, a := range []*agent{a1, a2} {
		a.expectServes("api.test", "/", http.StatusOK, "B /")
		a.expectServes("web.test", "/", http.StatusOK, "A /")
		eventually(t, 5*time.Second, func() error {
			if last := lastApplied(a); last["snapshot"] != false || last["revision"] != float64(2) {
				return fmt.Errorf("%s caught up with %v, want a delta to revision 2", a.Node, last)
			}
			return nil
		})
	}

	// Agent 2 leaves; the changelog is trimmed past its revision; it must get a snapshot.
	a2.Kill()
	create(t, admin, route("old", "old.test", backend(t, "C")))
	rdb := redis.NewClient(&redis.Options{Addr: rds.Addr})
	defer rdb.Close()
	if err := rdb.XTrimMaxLen(t.Context(), keyspace.New("").Changelog(), 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Replicas load their delta history at start; restart both so they see the trimmed log.
	for _, c := range []*control{cp, admin} {
		c.Kill()
		c.Start()
		c.WaitServing()
	}
	if _, err := admin.Routes().DeleteRoute(t.Context(), &edgeplanev1.DeleteRouteRequest{Name: "web", WaitForAgents: wait5s}); err != nil {
		t.Fatal(err)
	}
	a2.Start()
	a2.expectServes("old.test", "/", http.StatusOK, "C /")
	a2.expectServes("web.test", "/", http.StatusNotFound, "no route")
	eventually(t, 5*time.Second, func() error { // logged just after the table is swapped in
		if last := lastApplied(a2); last["snapshot"] != true || last["revision"] == float64(2) {
			return fmt.Errorf("edge-2 caught up with %v, want a snapshot", last)
		}
		return nil
	})
	a1.expectServes("web.test", "/", http.StatusNotFound, "no route")
}

func lastApplied(a *agent) map[string]any {
	recs := a.Logs("config applied")
	if len(recs) == 0 {
		return nil
	}
	return recs[len(recs)-1]
}
