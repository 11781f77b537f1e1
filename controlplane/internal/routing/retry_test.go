package routing_test

import (
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
)

func TestUpdate_RetryPolicy(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	if _, err := svc.Create(ctx, valid()); err != nil {
		t.Fatal(err)
	}
	want := &edgeplanev1.RetryPolicy{MaxAttempts: 3, Retry_5Xx: true, BudgetPercent: proto.Uint32(0), ExposeAttempts: true}
	for _, path := range []string{"retry_policy", "retryPolicy"} {
		got, err := svc.Update(ctx, &edgeplanev1.Route{Name: "web", RetryPolicy: want}, []string{path})
		if err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
		if d := cmp.Diff(want, got.GetRetryPolicy(), protocmp.Transform()); d != "" {
			t.Errorf("update %s: retry_policy (-want +got):\n%s", path, d)
		}
	}
	bad := &edgeplanev1.Route{Name: "web", RetryPolicy: &edgeplanev1.RetryPolicy{MaxAttempts: 9}}
	if _, err := svc.Update(ctx, bad, []string{"retry_policy"}); !hasField(asValidation(err), "route.retry_policy.max_attempts") {
		t.Errorf("max_attempts 9: got %v, want a violation of route.retry_policy.max_attempts", err)
	}
	got, err := svc.Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got.GetRetryPolicy(), protocmp.Transform()); d != "" {
		t.Errorf("after a refused update, retry_policy changed (-want +got):\n%s", d)
	}
}
