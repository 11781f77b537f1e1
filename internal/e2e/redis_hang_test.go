package e2e

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// Redis stops answering (its process is stopped: connections stay open and hang, as behind
// a partition that drops packets). A write with a 4 s deadline fails with Unavailable, which
// the server can only send before the deadline (after it the client reports
// DeadlineExceeded itself), and says Redis is unreachable; a write without a deadline fails
// the same way, bounded by the Redis client's timeouts. Once Redis answers again the next
// write succeeds.
func TestRedisHangs_WritesFailUnavailableBeforeTheirDeadline(t *testing.T) {
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-hang")
	target := backend(t, "A")
	create(t, cp, route("before", "before.test", target))

	info, err := rds.Info(t.Context(), "server")
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(info["process_id"])
	if err != nil {
		t.Fatalf("redis process_id %q: %v", info["process_id"], err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("SIGCONT redis: %v", err)
			}
		}
	}
	t.Cleanup(resume)

	write := func(ctx context.Context, name string) error {
		_, err := cp.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route(name, name+".test", target)})
		return err
	}
	expectUnavailable := func(what string, err error) {
		t.Helper()
		if status.Code(err) != codes.Unavailable || !strings.Contains(status.Convert(err).Message(), "redis unreachable") {
			t.Errorf("%s while Redis hangs: %v, want Unavailable saying redis is unreachable", what, err)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Second)
	expectUnavailable("CreateRoute with a 4 s deadline", write(ctx, "during"))
	cancel()

	// No deadline from the client: a hang would show as the test run's own timeout.
	expectUnavailable("CreateRoute without a deadline", write(t.Context(), "nodeadline"))

	resume()
	ctx, cancel = context.WithTimeout(t.Context(), 4*time.Second)
	defer cancel()
	if err := write(ctx, "after"); err != nil {
		t.Fatalf("CreateRoute once Redis answers again: %v", err)
	}
}
