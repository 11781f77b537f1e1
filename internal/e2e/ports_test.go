package e2e

import (
	"fmt"
	"sync"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// Two control-plane processes on one Redis lease 2,000 ports at once through the API:
// every port is leased once; asking again for an owner returns its lease; leases page.
func TestPorts_TwoReplicasNeverDuplicate(t *testing.T) {
	rds := redistest.New(t)
	cps := []*control{startControl(t, rds.URL(), "cp-1"), startControl(t, rds.URL(), "cp-2")}
	const total, workers = 2000, 16
	var mu sync.Mutex
	byPort := map[int32]string{}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			pc := cps[w%2].Ports()
			for i := w; i < total; i += workers {
				owner := fmt.Sprintf("job/%d", i)
				res, err := pc.AllocatePort(t.Context(), &edgeplanev1.AllocatePortRequest{Purpose: "service", Owner: owner})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := byPort[res.GetPort().GetPort()]; dup {
					errs <- fmt.Errorf("port %d leased to %s and %s", res.GetPort().GetPort(), prev, owner)
				}
				byPort[res.GetPort().GetPort()] = owner
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(byPort) != total {
		t.Fatalf("got %d distinct ports, want %d", len(byPort), total)
	}

	again, err := cps[1].Ports().AllocatePort(t.Context(), &edgeplanev1.AllocatePortRequest{Purpose: "service", Owner: "job/7"})
	if err != nil || again.GetCreated() || byPort[again.GetPort().GetPort()] != "job/7" {
		t.Errorf("allocating again for job/7: got %v %v, want its existing lease", again, err)
	}
	n, token := 0, ""
	for {
		page, err := cps[0].Ports().ListPorts(t.Context(), &edgeplanev1.ListPortsRequest{PageSize: 700, PageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.GetPorts())
		if token = page.GetNextPageToken(); token == "" {
			break
		}
	}
	if n != total {
		t.Errorf("ListPorts pages: got %d leases, want %d", n, total)
	}

	rel, err := cps[0].Ports().ReleasePort(t.Context(), &edgeplanev1.ReleasePortRequest{Purpose: "service", Owner: "job/7"})
	if err != nil || byPort[rel.GetPort().GetPort()] != "job/7" {
		t.Errorf("release by owner: got %v %v", rel, err)
	}
	_, err = cps[1].Ports().ReleasePort(t.Context(), &edgeplanev1.ReleasePortRequest{Port: rel.GetPort().GetPort()})
	if status.Code(err) != codes.NotFound {
		t.Errorf("second release: got %v, want NotFound", err)
	}
	_, err = cps[1].Ports().AllocatePort(t.Context(), &edgeplanev1.AllocatePortRequest{Purpose: "nope", Owner: "x", Preferred: 1})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || fmt.Sprint(violations(st)) != "[purpose]" {
		t.Errorf("unknown purpose: got %v, want InvalidArgument naming purpose", err)
	}
}
