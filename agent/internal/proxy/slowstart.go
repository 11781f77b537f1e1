package proxy

// Slow start: a target back in rotation gets a share that grows linearly to its weight over
// the route's health_check.slow_start. The picker applies it when it takes a snapshot.

// rampSteps is how many steps a slow start's linear ramp takes; weights are scaled by it
// while a target ramps up.
const rampSteps = 10

// returned returns when t came back into rotation (from an ejection that ended at
// ejectedUntil, or from failing active checks) if that was less than slowStart ago, else 0.
func (p *picker) returned(t *target, ejectedUntil, now int64) int64 {
	if p.slowStart == 0 {
		return 0
	}
	back := ejectedUntil
	if t.active != nil {
		back = max(back, t.active.upSince.Load())
	}
	if back == 0 || now-back >= p.slowStart {
		return 0
	}
	return back
}

// rampedWeights returns the weights of the targets at idx; while any ramps up, all are
// scaled by rampSteps and a ramping one gets its share of the time since it came back.
func (p *picker) rampedWeights(idx []int, since []int64, now int64) []uint32 {
	w := make([]uint32, len(idx))
	scale := uint64(1)
	for _, b := range since {
		if b != 0 {
			scale = rampSteps
		}
	}
	for k, i := range idx {
		full := uint64(max(p.weights[i], 1)) * scale
		if since[k] != 0 {
			full = full * uint64(now-since[k]) / uint64(p.slowStart)
		}
		w[k] = uint32(max(full, 1))
	}
	return w
}
