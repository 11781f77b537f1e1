package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// largeConfig applies routes r-0000 ... with hosts h-NNNN-HHH.chunked.e2e.example.test each,
// in requests under gRPC's 4 MiB limit, and returns the last revision and the encoded size
// of the routes.
func largeConfig(t *testing.T, cp *control, routes, hosts int, target string) (int64, int) {
	t.Helper()
	var rev int64
	size := 0
	const perRequest = 200
	for start := 0; start < routes; start += perRequest {
		req := &edgeplanev1.ApplyConfigRequest{}
		for i := start; i < min(start+perRequest, routes); i++ {
			r := &edgeplanev1.Route{Name: fmt.Sprintf("r-%04d", i), Targets: []*edgeplanev1.Target{{Url: target}}}
			for h := range hosts {
				r.Hosts = append(r.Hosts, fmt.Sprintf("h-%04d-%03d.chunked.e2e.example.test", i, h))
			}
			req.Routes = append(req.Routes, r)
		}
		size += proto.Size(&edgeplanev1.ConfigUpdate{Routes: req.GetRoutes()})
		res, err := cp.Config().ApplyConfig(t.Context(), req)
		if err != nil {
			t.Fatalf("applying routes from %d: %v", start, err)
		}
		rev = res.GetRevision()
	}
	return rev, size
}

// A config far over gRPC's 4 MiB message limit reaches a cold agent as a chunked snapshot,
// and the agent serves all of it.
func TestChunkedSnapshot_ColdAgentLoadsConfigOverMessageLimit(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	be := backend(t, "A")
	const routes, hosts = 2000, 100
	rev, size := largeConfig(t, cp, routes, hosts, be)
	if size < 6<<20 {
		t.Fatalf("the config encodes to %d bytes, want well over 4 MiB", size)
	}
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir())
	eventually(t, 60*time.Second, func() error {
		res, err := cp.Fleet().GetAgent(t.Context(), &edgeplanev1.GetAgentRequest{NodeId: "edge-1"})
		if err != nil {
			return err
		}
		if a := res.GetAgent(); a.GetAppliedRevision() != rev || a.GetLastError() != "" {
			return fmt.Errorf("agent at revision %d (last error %q), want %d", a.GetAppliedRevision(), a.GetLastError(), rev)
		}
		return nil
	})
	ag.expectServes("h-0000-000.chunked.e2e.example.test", "/first", http.StatusOK, "A /first")
	ag.expectServes(fmt.Sprintf("h-%04d-%03d.chunked.e2e.example.test", routes-1, hosts-1), "/last", http.StatusOK, "A /last")

	// After the snapshot, changes are small deltas as before.
	create(t, cp, route("late", "late.test", be))
	ag.expectServes("late.test", "/", http.StatusOK, "A /")
}
