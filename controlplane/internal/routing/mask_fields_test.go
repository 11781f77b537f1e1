package routing_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Every writable field of a route survives an update: by its mask path (snake and camel
// case), and in a full update without a mask. A field added to Route but not to the mask's
// setters would be silently dropped; this test lists Route's fields from its descriptor.
func TestUpdate_EveryWritableFieldIsKept(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	if _, err := svc.Create(ctx, valid()); err != nil {
		t.Fatal(err)
	}
	full := proto.CloneOf(valid())
	full.MaxBodyBytes = 1 << 20
	full.UpgradeProtocols = []string{"websocket"}
	full.AllowUnderscoresInHeaders = true
	full.EncodedSlashes = edgeplanev1.EncodedSlashes_ENCODED_SLASHES_KEEP
	full.KeepEmptySegments = true
	full.Labels = map[string]string{"team": "a"}
	full.OutlierDetection = &edgeplanev1.OutlierDetection{ConsecutiveFailures: 3}
	full.HealthCheck = &edgeplanev1.HealthCheck{Path: "/healthz", Interval: durationpb.New(time.Second)}
	full.LoadBalancer = &edgeplanev1.LoadBalancer{Policy: edgeplanev1.LbPolicy_LB_POLICY_HASH, HashCookie: "session"}
	full.CircuitBreakers = &edgeplanev1.CircuitBreakers{MaxRequests: 10}
	full.RetryPolicy = &edgeplanev1.RetryPolicy{MaxAttempts: 3}
	full.PreserveHost = true
	full.Priority = 7
	full.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_NONE}
	full.RequestHeaders = &edgeplanev1.HeaderRules{Set: map[string]string{"X-A": "1"}, Remove: []string{"X-B"}}
	full.ResponseHeaders = &edgeplanev1.HeaderRules{Remove: []string{"Server"}}
	full.Timeouts = &edgeplanev1.Timeouts{Connect: durationpb.New(2 * time.Second)}
	got, err := svc.Update(ctx, full, nil)
	if err != nil {
		t.Fatal(err)
	}
	output := map[string]bool{"name": true, "etag": true, "revision": true, "create_time": true, "update_time": true}
	opts := []cmp.Option{protocmp.Transform(), protocmp.IgnoreFields(&edgeplanev1.Route{}, "etag", "revision", "create_time", "update_time")}
	if d := cmp.Diff(full, got, opts...); d != "" {
		t.Errorf("an update without a mask dropped fields (-sent +stored):\n%s", d)
	}
	fields := full.ProtoReflect().Descriptor().Fields()
	for i := range fields.Len() {
		f := fields.Get(i)
		if output[string(f.Name())] {
			continue
		}
		if !got.ProtoReflect().Has(f) && f.Name() != "service" {
			t.Errorf("the test sets no value for %s: give it one so the test covers it", f.Name())
		}
		for _, path := range []string{string(f.Name()), f.JSONName()} {
			if _, err := svc.Update(ctx, full, []string{path}); err != nil {
				t.Errorf("update_mask %q: %v", path, err)
			}
		}
	}
}
