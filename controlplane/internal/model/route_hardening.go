package model

import (
	"fmt"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Limits on a route's hostile-traffic options.
const (
	MaxBodyBytes        = 1 << 40 // a route's max_body_bytes
	MaxUpgradeProtocols = 16
)

// validateHardening checks a route's request limits and normalization options: f turns a
// field name into its path.
func validateHardening(vs *violations, f func(string) string, r *edgeplanev1.Route) {
	if n := r.GetMaxBodyBytes(); n > MaxBodyBytes {
		vs.add(f("max_body_bytes"), fmt.Sprintf("%d is over the maximum %d (0 means the agent's default)", n, uint64(MaxBodyBytes)))
	}
	ups := r.GetUpgradeProtocols()
	if len(ups) > MaxUpgradeProtocols {
		vs.add(f("upgrade_protocols"), fmt.Sprintf("at most %d protocols", MaxUpgradeProtocols))
	}
	for i, p := range ups {
		if !headerPattern.MatchString(p) {
			vs.add(fmt.Sprintf("%s[%d]", f("upgrade_protocols"), i), fmt.Sprintf("%q is not an HTTP token such as websocket", p))
		}
	}
	if _, ok := edgeplanev1.EncodedSlashes_name[int32(r.GetEncodedSlashes())]; !ok {
		vs.add(f("encoded_slashes"), fmt.Sprintf("%d is not an EncodedSlashes value", r.GetEncodedSlashes()))
	}
}
