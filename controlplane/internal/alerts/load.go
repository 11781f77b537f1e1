package alerts

import (
	"encoding/json"
	"fmt"
	"os"
	"time"
)

// ruleFile is one rule as operators write it in the --alert-rules JSON file.
type ruleFile struct {
	Name         string   `json:"name"`
	Kind         Kind     `json:"kind"`
	Severity     Severity `json:"severity"`
	Threshold    float64  `json:"threshold"`
	MinRequests  int64    `json:"minRequests"`
	Duration     string   `json:"duration"`
	Group        string   `json:"group"`
	ResolveAfter string   `json:"resolveAfter"`
}

var knownKinds = map[Kind]bool{ErrorRate: true, Latency: true, CertificateExpiry: true, CertificateFailure: true,
	AgentDown: true, ServiceDied: true, ConsumerLag: true, TelemetryStore: true, NoHealthyTarget: true}

// LoadRules reads rules from a JSON array such as
//
//	[{"kind":"error_rate","threshold":0.02,"minRequests":50,"severity":"critical"},
//	 {"kind":"latency","duration":"500ms"}]
//
// Fields left out take the kind's defaults (see DefaultRules). The file replaces the default
// rules; an unknown kind or severity, a bad duration or an unknown field is an error naming
// the rule.
func LoadRules(path string) ([]Rule, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("alert rules: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var raw []ruleFile
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("alert rules %s: %w", path, err)
	}
	rules := make([]Rule, 0, len(raw))
	for i, r := range raw {
		rule, err := r.rule()
		if err != nil {
			return nil, fmt.Errorf("alert rules %s: rule %d: %w", path, i, err)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

func (r ruleFile) rule() (Rule, error) {
	if !knownKinds[r.Kind] {
		return Rule{}, fmt.Errorf("kind %q: use error_rate, latency, certificate_expiry, certificate_failure, agent_down, service_died, consumer_lag, telemetry_store or no_healthy_target", r.Kind)
	}
	switch r.Severity {
	case "", Critical, Warning, Info:
	default:
		return Rule{}, fmt.Errorf("severity %q: use critical, warning or info", r.Severity)
	}
	if r.Threshold < 0 || r.Threshold > 1 || r.MinRequests < 0 {
		return Rule{}, fmt.Errorf("threshold must be a share between 0 and 1, minRequests not negative")
	}
	dur, err := optDuration("duration", r.Duration)
	if err != nil {
		return Rule{}, err
	}
	resolve, err := optDuration("resolveAfter", r.ResolveAfter)
	if err != nil {
		return Rule{}, err
	}
	return Rule{Name: r.Name, Kind: r.Kind, Severity: r.Severity, Threshold: r.Threshold, MinRequests: r.MinRequests,
		Duration: dur, Group: r.Group, ResolveAfter: resolve}, nil
}

func optDuration(field, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s %q: want a duration such as 500ms or 14d written as 336h", field, s)
	}
	return d, nil
}
