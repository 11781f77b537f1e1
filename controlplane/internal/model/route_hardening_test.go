package model

import (
	"errors"
	"strings"
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func TestValidateRoute_HardeningOptions(t *testing.T) {
	base := func() *edgeplanev1.Route {
		return &edgeplanev1.Route{Name: "r", Hosts: []string{"a.test"}, Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}}}
	}
	tests := []struct {
		name   string
		change func(*edgeplanev1.Route)
		field  string // "" when valid
	}{
		{"defaults", func(*edgeplanev1.Route) {}, ""},
		{"all set", func(r *edgeplanev1.Route) {
			r.MaxBodyBytes, r.UpgradeProtocols, r.AllowUnderscoresInHeaders = 1<<20, []string{"websocket", "h2c"}, true
			r.EncodedSlashes, r.KeepEmptySegments = edgeplanev1.EncodedSlashes_ENCODED_SLASHES_DECODE, true
		}, ""},
		{"body too large", func(r *edgeplanev1.Route) { r.MaxBodyBytes = MaxBodyBytes + 1 }, "route.max_body_bytes"},
		{"upgrade not a token", func(r *edgeplanev1.Route) { r.UpgradeProtocols = []string{"web socket"} }, "route.upgrade_protocols[0]"},
		{"too many upgrades", func(r *edgeplanev1.Route) {
			r.UpgradeProtocols = strings.Split(strings.Repeat("a,", MaxUpgradeProtocols), ",")
		}, "route.upgrade_protocols"},
		{"unknown slash policy", func(r *edgeplanev1.Route) { r.EncodedSlashes = 9 }, "route.encoded_slashes"},
		{"dot segment in the prefix", func(r *edgeplanev1.Route) { r.PathPrefix = "/a/./b" }, "route.path_prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := base()
			tt.change(r)
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
