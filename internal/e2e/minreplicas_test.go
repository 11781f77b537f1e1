package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The primary dies right after a write that its replica never got (the replica's link is
// cut first: its masterauth is made wrong and its connection killed, so it cannot resync),
// and Sentinel promotes the replica. Without --redis-min-replicas the write is acknowledged
// and then lost; with it the write is refused with Unavailable instead.
func TestMinReplicas_WriteLostWithoutFlagRefusedWithIt(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra []string
	}{
		{"without", nil},
		{"with", []string{"--redis-min-replicas", "1", "--redis-min-replicas-timeout", "500ms"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := redistest.NewSentinel(t, redistest.Options{Password: "pw"})
			cp := startControl(t, s.URL(), "cp-1", tt.extra...)
			create(t, cp, route("before", "before.test", "http://127.0.0.1:9"))

			primary, replica := s.Primary(), s.Replica()
			cutReplication(t, primary, replica)
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			_, err := cp.Routes().CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: route("x", "x.test", "http://127.0.0.1:9")})
			cancel()
			primary.Kill()
			s.WaitPrimaryNot(primary)

			if tt.extra == nil {
				if err != nil {
					t.Fatalf("write without the flag: got %v, want it acknowledged", err)
				}
				eventually(t, 20*time.Second, func() error { return routeGone(t, cp, "x") })
				t.Logf("acknowledged write x lost after the failover")
			} else {
				if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "may still take effect") {
					t.Fatalf("write with the flag: got %v, want Unavailable saying it may still take effect", err)
				}
				t.Logf("write x refused: %v", err)
			}
			eventually(t, 20*time.Second, func() error {
				_, err := cp.Routes().GetRoute(t.Context(), &edgeplanev1.GetRouteRequest{Name: "before"})
				return err
			})
		})
	}
}

// cutReplication stops replica from receiving primary's writes for good: a wrong
// masterauth, then its link killed, so it cannot reconnect.
func cutReplication(t *testing.T, primary, replica *redistest.Server) {
	t.Helper()
	ctx := t.Context()
	if err := replica.Client().ConfigSet(ctx, "masterauth", "wrong").Err(); err != nil {
		t.Fatal(err)
	}
	if err := primary.Client().Do(ctx, "CLIENT", "KILL", "TYPE", "replica").Err(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		info, err := replica.Info(ctx, "replication")
		if err == nil && info["master_link_status"] != "down" {
			err = errorString("replica link still " + info["master_link_status"])
		}
		return err
	})
}

func routeGone(t *testing.T, cp *control, name string) error {
	_, err := cp.Routes().GetRoute(t.Context(), &edgeplanev1.GetRouteRequest{Name: name})
	if status.Code(err) == codes.NotFound {
		return nil
	}
	return errorString("route " + name + " still there: " + status.Code(err).String())
}
