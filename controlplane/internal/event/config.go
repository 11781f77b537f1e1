package event

// Config delivery: routing's writes and the fanout's agent sessions.

// RouteChanged: a route was written or deleted at Revision.
type RouteChanged struct {
	Route    string
	Change   string // "written" or "deleted"
	Revision int64
	Via      string // "apply" when written by ConfigService.ApplyConfig, else empty
}

// AgentConnected: an agent's stream opened on Replica.
type AgentConnected struct {
	NodeID, Replica string
	Revision        int64 // the revision the agent said it has
	Version         string
}

// AgentDisconnected: an agent's stream on Replica ended for Reason.
type AgentDisconnected struct {
	NodeID, Replica, Reason string
}

// ConfigRejected: an agent NACKed Revision with Error.
type ConfigRejected struct {
	NodeID   string
	Revision int64
	Error    string
}

func (*RouteChanged) Type() string      { return "route_changed" }
func (*AgentConnected) Type() string    { return "agent_connected" }
func (*AgentDisconnected) Type() string { return "agent_disconnected" }
func (*ConfigRejected) Type() string    { return "config_rejected" }

func (e *RouteChanged) visit(c codec) {
	c.str("route", &e.Route)
	c.str("change", &e.Change)
	c.int("revision", &e.Revision)
	c.str("via", &e.Via)
}

func (e *AgentConnected) visit(c codec) {
	c.str("node_id", &e.NodeID)
	c.str("replica", &e.Replica)
	c.int("revision", &e.Revision)
	c.str("version", &e.Version)
}

func (e *AgentDisconnected) visit(c codec) {
	c.str("node_id", &e.NodeID)
	c.str("replica", &e.Replica)
	c.str("reason", &e.Reason)
}

func (e *ConfigRejected) visit(c codec) {
	c.str("node_id", &e.NodeID)
	c.int("revision", &e.Revision)
	c.str("error", &e.Error)
}

var (
	_ = register[RouteChanged]()
	_ = register[AgentConnected]()
	_ = register[AgentDisconnected]()
	_ = register[ConfigRejected]()
)
