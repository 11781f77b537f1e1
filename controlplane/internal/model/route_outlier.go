package model

import (
	"fmt"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// Bounds of a route's outlier_detection.
const (
	MaxConsecutiveFailures = 1000
	MinEjectionTime        = time.Second
	MaxBaseEjectionTime    = time.Hour
	MaxEjectionTime        = 24 * time.Hour
)

// validateOutlier checks a route's passive health policy; unset fields are valid (the
// agent's defaults).
func validateOutlier(vs *violations, field string, o *edgeplanev1.OutlierDetection) {
	if o == nil {
		return
	}
	if n := o.GetConsecutiveFailures(); n > MaxConsecutiveFailures {
		vs.add(field+".consecutive_failures", fmt.Sprintf("%d is out of range 0-%d (0 means the agent's default)", n, MaxConsecutiveFailures))
	}
	base, baseOK := checkEjection(vs, field+".base_ejection_time", o.GetBaseEjectionTime(), MaxBaseEjectionTime)
	if most, ok := checkEjection(vs, field+".max_ejection_time", o.GetMaxEjectionTime(), MaxEjectionTime); ok && baseOK && most < base {
		vs.add(field+".max_ejection_time", fmt.Sprintf("%s is below base_ejection_time %s", most, base))
	}
	if o.HealthyPanicThreshold != nil && o.GetHealthyPanicThreshold() > 100 {
		vs.add(field+".healthy_panic_threshold", fmt.Sprintf("%d is out of range 0-100", o.GetHealthyPanicThreshold()))
	}
}

// checkEjection checks an optional ejection time against MinEjectionTime-limit and reports
// whether it is set and valid.
func checkEjection(vs *violations, field string, d *durationpb.Duration, limit time.Duration) (time.Duration, bool) {
	if d == nil {
		return 0, false
	}
	if err := d.CheckValid(); err != nil {
		vs.add(field, err.Error())
		return 0, false
	}
	if v := d.AsDuration(); v < MinEjectionTime || v > limit {
		vs.add(field, fmt.Sprintf("%s is out of range %s-%s", v, MinEjectionTime, limit))
		return 0, false
	}
	return d.AsDuration(), true
}
