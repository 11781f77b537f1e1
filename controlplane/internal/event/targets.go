package event

// Target health, as agents report it (fanout).

// TargetUnhealthy: agent NodeID sees Target of Route unhealthy (ejected by passive health
// or failing active checks) for Reason.
type TargetUnhealthy struct {
	NodeID, Route, Target, Reason string
}

// TargetHealthy: agent NodeID sees Target of Route healthy again.
type TargetHealthy struct {
	NodeID, Route, Target string
}

func (*TargetUnhealthy) Type() string { return "target_unhealthy" }
func (*TargetHealthy) Type() string   { return "target_healthy" }

func (e *TargetUnhealthy) visit(c codec) {
	c.str("node_id", &e.NodeID)
	c.str("route", &e.Route)
	c.str("target", &e.Target)
	c.str("reason", &e.Reason)
}

func (e *TargetHealthy) visit(c codec) {
	c.str("node_id", &e.NodeID)
	c.str("route", &e.Route)
	c.str("target", &e.Target)
}

var (
	_ = register[TargetUnhealthy]()
	_ = register[TargetHealthy]()
)
