package alerts

import "time"

// Severity ranks an alert: Critical, Warning or Info.
type Severity string

// Severities, most urgent first.
const (
	Critical Severity = "critical"
	Warning  Severity = "warning"
	Info     Severity = "info"
)

func (s Severity) rank() int {
	switch s {
	case Critical:
		return 0
	case Warning:
		return 1
	}
	return 2
}

// Kind is what a rule watches.
type Kind string

// Rule kinds. ErrorRate, Latency, AgentDown and ConsumerLag are evaluated every EvalEvery;
// CertificateExpiry, CertificateFailure and ServiceDied fire from events (see Handle).
const (
	// ErrorRate fires per host when the share of 5xx over the Window exceeds Threshold with
	// at least MinRequests requests. Labels: host.
	ErrorRate Kind = "error_rate"
	// Latency fires per host when a route of the host has a p99 over the Window above
	// Duration with at least MinRequests requests. Labels: host.
	Latency Kind = "latency"
	// CertificateExpiry fires on certificate_expiring when the certificate has less than
	// Duration left; certificate_ready resolves it. Labels: certificate.
	CertificateExpiry Kind = "certificate_expiry"
	// CertificateFailure fires on certificate_failed; certificate_ready resolves it.
	// Labels: certificate.
	CertificateFailure Kind = "certificate_failure"
	// AgentDown fires per agent disconnected (or unheard of) for longer than Duration.
	// Labels: node_id.
	AgentDown Kind = "agent_down"
	// ServiceDied fires on service_died (and service_oom); service_started or
	// service_deleted resolves it. Labels: service.
	ServiceDied Kind = "service_died"
	// ConsumerLag fires when Group on the request stream lags more than Duration (the age of
	// its oldest unprocessed entry). Labels: stream, group.
	ConsumerLag Kind = "consumer_lag"
	// TelemetryStore fires while telemetry is being lost: the telemetry Redis unreachable
	// or at 90% of its maxmemory (with noeviction it then refuses writes), or the control
	// plane's publisher dropping records or failing writes. Labels: store.
	TelemetryStore Kind = "telemetry_store"
	// NoHealthyTarget fires per agent and route while the agent reports no healthy target
	// for the route (every one ejected or failing health checks); it resolves when one is
	// healthy again or the agent stops reporting the route. Labels: node_id, route.
	NoHealthyTarget Kind = "no_healthy_target"
)

// Rule is one alerting rule. Which threshold fields a rule reads depends on its Kind; a zero
// field takes the value the kind's rule in DefaultRules has.
type Rule struct {
	// Name is the alert's name (Alertmanager's alertname), unique among the rules.
	// Default: the name of the kind's default rule.
	Name string
	// Kind is what the rule watches. Required.
	Kind Kind
	// Severity defaults to the kind's default rule's.
	Severity Severity
	// Threshold is ErrorRate's limit, a share of requests (0.05 is 5%).
	Threshold float64
	// MinRequests is the fewest requests over the Window a host needs before ErrorRate or
	// Latency judges it.
	MinRequests int64
	// Duration is Latency's p99 limit, CertificateExpiry's remaining validity, AgentDown's
	// time disconnected and ConsumerLag's lag limit.
	Duration time.Duration
	// Group is ConsumerLag's consumer group on the request stream.
	Group string
	// ResolveAfter resolves an event-driven alert (CertificateExpiry, CertificateFailure,
	// ServiceDied) this long after its last triggering event when no event cleared it.
	// Default 24h.
	ResolveAfter time.Duration
}

// DefaultRules returns the rules used when Config.Rules is nil.
func DefaultRules() []Rule {
	return []Rule{
		{Name: "HighErrorRate", Kind: ErrorRate, Severity: Critical, Threshold: 0.05, MinRequests: 20},
		{Name: "HighLatency", Kind: Latency, Severity: Warning, Duration: time.Second, MinRequests: 20},
		{Name: "CertificateExpiring", Kind: CertificateExpiry, Severity: Warning, Duration: 14 * 24 * time.Hour},
		{Name: "CertificateFailed", Kind: CertificateFailure, Severity: Critical},
		{Name: "AgentDown", Kind: AgentDown, Severity: Critical, Duration: 30 * time.Second},
		{Name: "ServiceDied", Kind: ServiceDied, Severity: Critical},
		{Name: "ConsumerLag", Kind: ConsumerLag, Severity: Warning, Duration: 5 * time.Second, Group: "metrics"},
		{Name: "TelemetryDropping", Kind: TelemetryStore, Severity: Critical},
		{Name: "NoHealthyTarget", Kind: NoHealthyTarget, Severity: Critical},
	}
}

// withDefaults fills r's zero fields from its kind's default rule; ok is false for an
// unknown kind.
func (r Rule) withDefaults() (_ Rule, ok bool) {
	for _, d := range DefaultRules() {
		if d.Kind != r.Kind {
			continue
		}
		if r.Name == "" {
			r.Name = d.Name
		}
		if r.Severity == "" {
			r.Severity = d.Severity
		}
		if r.Threshold <= 0 {
			r.Threshold = d.Threshold
		}
		if r.MinRequests <= 0 {
			r.MinRequests = d.MinRequests
		}
		if r.Duration <= 0 {
			r.Duration = d.Duration
		}
		if r.Group == "" {
			r.Group = d.Group
		}
		if r.ResolveAfter <= 0 {
			r.ResolveAfter = 24 * time.Hour
		}
		return r, true
	}
	return r, false
}

// eventDriven says whether r fires from events rather than from periodic evaluation.
func (r Rule) eventDriven() bool {
	return r.Kind == CertificateExpiry || r.Kind == CertificateFailure || r.Kind == ServiceDied
}
