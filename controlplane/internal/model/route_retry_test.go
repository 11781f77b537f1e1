package model

import (
	"errors"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestValidateRoute_RetryPolicy(t *testing.T) {
	dur := durationpb.New
	tests := []struct {
		name  string
		p     *edgeplanev1.RetryPolicy
		field string // "" when valid
	}{
		{"unset", nil, ""},
		{"empty", &edgeplanev1.RetryPolicy{}, ""},
		{"all set", &edgeplanev1.RetryPolicy{MaxAttempts: 3, Retry_5Xx: true, RetryNonIdempotent: true, BudgetPercent: proto.Uint32(0),
			MinRetriesPerSecond: proto.Uint32(0), PerTryTimeout: dur(time.Second), ExposeAttempts: true}, ""},
		{"too many attempts", &edgeplanev1.RetryPolicy{MaxAttempts: MaxAttempts + 1}, "route.retry_policy.max_attempts"},
		{"budget over 100", &edgeplanev1.RetryPolicy{BudgetPercent: proto.Uint32(101)}, "route.retry_policy.budget_percent"},
		{"minimum too high", &edgeplanev1.RetryPolicy{MinRetriesPerSecond: proto.Uint32(MaxRetriesPerSecond + 1)}, "route.retry_policy.min_retries_per_second"},
		{"per-try zero", &edgeplanev1.RetryPolicy{PerTryTimeout: dur(0)}, "route.retry_policy.per_try_timeout"},
		{"per-try negative", &edgeplanev1.RetryPolicy{PerTryTimeout: dur(-time.Second)}, "route.retry_policy.per_try_timeout"},
		{"per-try too long", &edgeplanev1.RetryPolicy{PerTryTimeout: dur(2 * time.Hour)}, "route.retry_policy.per_try_timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &edgeplanev1.Route{Name: "r", Hosts: []string{"a.test"}, Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}},
				RetryPolicy: tt.p}
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
