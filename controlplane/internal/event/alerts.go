package event

import "time"

// Alerts (the alerts package) and the audit trail (the api package's guard).

// Alert is the alert an alert event is about.
type Alert struct {
	AlertName, Severity, AlertID string
	Labels                       string // JSON object
	Summary, Description         string
	StartsAt                     time.Time
	EndsAt                       time.Time // zero (and absent) while it fires
}

// AlertFired: an alert started firing (and this replica notified it).
type AlertFired struct{ Alert }

// AlertResolved: a notified alert was resolved.
type AlertResolved struct{ Alert }

func (*AlertFired) Type() string    { return "alert_fired" }
func (*AlertResolved) Type() string { return "alert_resolved" }

func (e *Alert) visit(c codec) {
	c.str("alertname", &e.AlertName)
	c.str("severity", &e.Severity)
	c.str("alert_id", &e.AlertID)
	c.str("labels", &e.Labels)
	c.str("summary", &e.Summary)
	c.str("description", &e.Description)
	c.time("starts_at", &e.StartsAt)
	c.time("ends_at", &e.EndsAt)
}

// Audit records an admin write, accepted or refused, or any refused call.
type Audit struct {
	Principal, Via, Role string
	Method, Resource     string
	Outcome              string // "ok" or the gRPC code
	Peer                 string
}

func (*Audit) Type() string { return "audit" }

func (e *Audit) visit(c codec) {
	c.str("principal", &e.Principal)
	c.str("via", &e.Via)
	c.str("role", &e.Role)
	c.str("method", &e.Method)
	c.str("resource", &e.Resource)
	c.str("outcome", &e.Outcome)
	c.str("peer", &e.Peer)
}

var (
	_ = register[AlertFired]()
	_ = register[AlertResolved]()
	_ = register[Audit]()
)
