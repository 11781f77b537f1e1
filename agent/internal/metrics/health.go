package metrics

import "github.com/prometheus/client_golang/prometheus"

func newHealthGauge() *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "edgeplane_agent_target_healthy",
		Help: "1 while a route's target gets requests, 0 while it is ejected or failing health checks, by route and target.",
	}, []string{"route", "target"})
}

// SetTargetHealthy records whether target of route is healthy. Not the hot path: called
// when targets' health changes.
func (m *Metrics) SetTargetHealthy(route, target string, healthy bool) {
	v := 0.0
	if healthy {
		v = 1
	}
	m.targets.WithLabelValues(route, target).Set(v)
}

// ForgetTarget drops the health series of target of route (no longer served).
func (m *Metrics) ForgetTarget(route, target string) { m.targets.DeleteLabelValues(route, target) }
