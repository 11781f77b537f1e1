package routing_test

import (
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"
)

func TestUpdate_OutlierDetection(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	if _, err := svc.Create(ctx, valid()); err != nil {
		t.Fatal(err)
	}
	want := &edgeplanev1.OutlierDetection{ConsecutiveFailures: 3, Count_5Xx: true, HealthyPanicThreshold: proto.Uint32(0)}
	for _, path := range []string{"outlier_detection", "outlierDetection"} {
		got, err := svc.Update(ctx, &edgeplanev1.Route{Name: "web", OutlierDetection: want}, []string{path})
		if err != nil {
			t.Fatalf("update %s: %v", path, err)
		}
		if d := cmp.Diff(want, got.GetOutlierDetection(), protocmp.Transform()); d != "" {
			t.Errorf("update %s: outlier_detection (-want +got):\n%s", path, d)
		}
	}
	bad := &edgeplanev1.Route{Name: "web", OutlierDetection: &edgeplanev1.OutlierDetection{HealthyPanicThreshold: proto.Uint32(101)}}
	if _, err := svc.Update(ctx, bad, []string{"outlier_detection"}); !hasField(asValidation(err), "route.outlier_detection.healthy_panic_threshold") {
		t.Errorf("threshold 101: got %v, want a violation of route.outlier_detection.healthy_panic_threshold", err)
	}
}
