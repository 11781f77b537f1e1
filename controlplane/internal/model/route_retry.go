package model

import (
	"fmt"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Bounds of a route's retry_policy.
const (
	MaxAttempts            = 5
	MaxRetriesPerSecond    = 1000
	MinPerTryTimeout       = time.Millisecond
	MaxPerTryTimeout       = time.Hour
	maxRetryBudgetPercents = 100
)

// validateRetry checks a route's retry policy; unset fields are valid (the agent's
// defaults).
func validateRetry(vs *violations, field string, p *edgeplanev1.RetryPolicy) {
	if p == nil {
		return
	}
	if n := p.GetMaxAttempts(); n > MaxAttempts {
		vs.add(field+".max_attempts", fmt.Sprintf("%d is out of range 0-%d (0 means 2)", n, MaxAttempts))
	}
	if p.BudgetPercent != nil && p.GetBudgetPercent() > maxRetryBudgetPercents {
		vs.add(field+".budget_percent", fmt.Sprintf("%d is out of range 0-100", p.GetBudgetPercent()))
	}
	if p.MinRetriesPerSecond != nil && p.GetMinRetriesPerSecond() > MaxRetriesPerSecond {
		vs.add(field+".min_retries_per_second", fmt.Sprintf("%d is out of range 0-%d", p.GetMinRetriesPerSecond(), MaxRetriesPerSecond))
	}
	if d := p.GetPerTryTimeout(); d != nil {
		if err := d.CheckValid(); err != nil {
			vs.add(field+".per_try_timeout", err.Error())
		} else if v := d.AsDuration(); v < MinPerTryTimeout || v > MaxPerTryTimeout {
			vs.add(field+".per_try_timeout", fmt.Sprintf("%s is out of range %s-%s", v, MinPerTryTimeout, MaxPerTryTimeout))
		}
	}
}
