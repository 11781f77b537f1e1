package model

import (
	"errors"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestValidateRoute_OutlierDetection(t *testing.T) {
	dur := durationpb.New
	tests := []struct {
		name  string
		o     *edgeplanev1.OutlierDetection
		field string // "" when valid
	}{
		{"unset", nil, ""},
		{"empty", &edgeplanev1.OutlierDetection{}, ""},
		{"all set", &edgeplanev1.OutlierDetection{ConsecutiveFailures: 3, Count_5Xx: true, BaseEjectionTime: dur(5 * time.Second),
			MaxEjectionTime: dur(time.Minute), HealthyPanicThreshold: proto.Uint32(0)}, ""},
		{"too many failures", &edgeplanev1.OutlierDetection{ConsecutiveFailures: MaxConsecutiveFailures + 1}, "route.outlier_detection.consecutive_failures"},
		{"base too short", &edgeplanev1.OutlierDetection{BaseEjectionTime: dur(time.Millisecond)}, "route.outlier_detection.base_ejection_time"},
		{"base too long", &edgeplanev1.OutlierDetection{BaseEjectionTime: dur(2 * time.Hour)}, "route.outlier_detection.base_ejection_time"},
		{"negative base", &edgeplanev1.OutlierDetection{BaseEjectionTime: dur(-time.Second)}, "route.outlier_detection.base_ejection_time"},
		{"max too long", &edgeplanev1.OutlierDetection{MaxEjectionTime: dur(25 * time.Hour)}, "route.outlier_detection.max_ejection_time"},
		{"max below base", &edgeplanev1.OutlierDetection{BaseEjectionTime: dur(time.Minute), MaxEjectionTime: dur(time.Second)}, "route.outlier_detection.max_ejection_time"},
		{"threshold over 100", &edgeplanev1.OutlierDetection{HealthyPanicThreshold: proto.Uint32(101)}, "route.outlier_detection.healthy_panic_threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &edgeplanev1.Route{Name: "r", Hosts: []string{"a.test"}, Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}},
				OutlierDetection: tt.o}
			err := ValidateRoute("route", r)
			var ve *ValidationError
			switch {
			case tt.field == "" && err != nil:
				t.Fatalf("ValidateRoute() error = %v, want nil", err)
			case tt.field == "":
			case !errors.As(err, &ve) || ve.Violations[0].Field != tt.field:
				t.Fatalf("ValidateRoute() error = %v, want a violation of %s", err, tt.field)
			}
		})
	}
}
