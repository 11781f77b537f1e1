package e2e

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// writeDeadline is each streamed write's deadline; a write may not take longer (plus a
// little scheduling slack) to be answered.
const writeDeadline = 4 * time.Second

// writeResult is one streamed CreateRoute.
type writeResult struct {
	name string
	took time.Duration
	code codes.Code
	at   time.Time
	port int32 // a port lease's port (name "lease:<owner>"), 0 for a route
	rev  int64 // an acknowledged route's revision
}

// writer creates routes w-0, w-1, ... one after the other, round robin over the replicas,
// each with its own deadline, and records every answer.
type writer struct {
	t        *testing.T
	replicas []*control
	target   string
	stop     chan struct{}
	done     chan struct{}

	leaseEvery int // also lease a port every n writes (0: never)

	mu      sync.Mutex // guards results
	results []writeResult
}

func startWriter(t *testing.T, target string, replicas ...*control) *writer {
	w := &writer{t: t, replicas: replicas, target: target, stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	t.Cleanup(w.Stop)
	return w
}

func (w *writer) run() {
	defer close(w.done)
	for i := 0; ; i++ {
		select {
		case <-w.stop:
			return
		default:
		}
		name := fmt.Sprintf("w-%d", i)
		c := w.replicas[i%len(w.replicas)]
		ctx, cancel := context.WithTimeout(context.Background(), writeDeadline)
		start := time.Now()
		res, err := c.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route(name, name+".test", w.target)})
		cancel()
		r := writeResult{name: name, took: time.Since(start), code: status.Code(err), at: start, rev: res.GetRoute().GetRevision()}
		w.record(r)
		if w.leaseEvery > 0 && i%w.leaseEvery == 0 {
			w.record(w.lease(c, name))
		}
		if err != nil {
			time.Sleep(20 * time.Millisecond) // a failing Redis answers at once; do not spin
		}
	}
}

func (w *writer) record(r writeResult) {
	w.mu.Lock()
	w.results = append(w.results, r)
	w.mu.Unlock()
}

// lease allocates a service port for owner through c.
func (w *writer) lease(c *control, owner string) writeResult {
	ctx, cancel := context.WithTimeout(context.Background(), writeDeadline)
	defer cancel()
	start := time.Now()
	res, err := c.Ports().AllocatePort(ctx, &edgeplanev1.AllocatePortRequest{Purpose: "service", Owner: owner})
	return writeResult{name: "lease:" + owner, took: time.Since(start), code: status.Code(err), at: start, port: res.GetPort().GetPort()}
}

// Stop ends the stream and waits for the write in flight.
func (w *writer) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// Results returns a copy of every answer so far.
func (w *writer) Results() []writeResult {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]writeResult(nil), w.results...)
}

// WaitAcked waits until n more writes than now were acknowledged.
func (w *writer) WaitAcked(n int, timeout time.Duration) {
	w.t.Helper()
	want := len(acked(w.Results())) + n
	eventually(w.t, timeout, func() error {
		if got := len(acked(w.Results())); got < want {
			return fmt.Errorf("acknowledged writes: got %d, want %d", got, want)
		}
		return nil
	})
}

func acked(rs []writeResult) []string {
	var names []string
	for _, r := range rs {
		if r.code == codes.OK && !strings.HasPrefix(r.name, "lease:") {
			names = append(names, r.name)
		}
	}
	return names
}

// checkFailures asserts every failed write failed with Unavailable within its deadline and
// returns how many failed and the longest answer.
func checkFailures(t *testing.T, rs []writeResult) (failed int, longest time.Duration) {
	t.Helper()
	for _, r := range rs {
		longest = max(longest, r.took)
		if r.took > writeDeadline+500*time.Millisecond {
			t.Errorf("write %s took %v, past its %v deadline", r.name, r.took, writeDeadline)
		}
		if r.code == codes.OK {
			continue
		}
		failed++
		if r.code != codes.Unavailable {
			t.Errorf("write %s failed with %v, want Unavailable", r.name, r.code)
		}
	}
	return failed, longest
}

// checkOnEveryAgent asserts every acknowledged route is served by every agent.
func checkOnEveryAgent(t *testing.T, names []string, agents ...*agent) {
	t.Helper()
	for _, a := range agents {
		for _, n := range names {
			a.expectServes(n+".test", "/", http.StatusOK, "/")
		}
	}
}

// checkMonotonic asserts no agent applied a revision older than one it had applied.
func checkMonotonic(t *testing.T, agents ...*agent) {
	t.Helper()
	for _, a := range agents {
		revs := appliedRevisions(a)
		if !sort.SliceIsSorted(revs, func(i, j int) bool { return revs[i] < revs[j] }) {
			t.Errorf("%s applied revisions out of order: %v", a.Node, revs)
		}
		for i := 1; i < len(revs); i++ {
			if revs[i] < revs[i-1] {
				t.Errorf("%s applied revision %d after %d", a.Node, revs[i], revs[i-1])
			}
		}
	}
}
