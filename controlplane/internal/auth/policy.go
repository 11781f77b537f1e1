package auth

import (
	"fmt"
	"strings"
)

// Rule is what calling one method takes.
type Rule struct {
	// Open methods need no credential.
	Open bool
	// Role is the minimum role (RoleAgent: the agent role exactly).
	Role Role
	// Write: the method changes state, so every call is audited.
	Write bool
	// Stream: a long-lived read stream, counted against the caller's stream cap.
	Stream bool
}

// Policy maps every method to its Rule. It is read-only after NewPolicy, so safe for
// concurrent use.
type Policy struct {
	methods  map[string]Rule // by full method name "/pkg.Service/Method"
	services map[string]Rule // by "/pkg.Service/": every method of the service
}

// PolicyConfig adjusts the default table.
type PolicyConfig struct {
	// DockerCreateRole is the minimum role of DockerService/CreateService: admin (default) or
	// operator.
	DockerCreateRole Role
}

const v1 = "/edgeplane.v1."

// The method table (README "Security"). Reads need viewer, writes operator; the exceptions
// are listed by name.
var (
	viewerMethods = []string{
		"FleetService/ListAgents", "FleetService/GetAgent",
		"RoutingService/GetRoute", "RoutingService/ListRoutes",
		"CertificateService/GetCertificate", "CertificateService/ListCertificates",
		"PortService/ListPorts",
		"DockerService/GetService", "DockerService/ListServices", "DockerService/StreamServiceLogs",
		"TelemetryService/TailEvents", "TelemetryService/QueryLogs", "TelemetryService/GetTrace",
		"TelemetryService/GetMetrics", "TelemetryService/ListAlerts", "TelemetryService/GetAlertSummary",
		"TelemetryService/GetConsumerLag",
	}
	operatorMethods = []string{
		"RoutingService/CreateRoute", "RoutingService/UpdateRoute", "RoutingService/DeleteRoute",
		"ConfigService/ApplyConfig",
		"CertificateService/CreateCertificate", "CertificateService/RenewCertificate", "CertificateService/DeleteCertificate",
		"PortService/AllocatePort", "PortService/ReleasePort",
		"DockerService/UpdateService", "DockerService/DeleteService", "DockerService/StartService",
		"DockerService/StopService", "DockerService/RestartService",
	}
	adminMethods  = []string{"FleetService/RevokeAgent"}
	adminServices = []string{"TokenService", "EnrollmentService"}
	streams       = []string{"DockerService/StreamServiceLogs", "TelemetryService/TailEvents"}
	openServices  = []string{"/grpc.health.v1.Health/", "/grpc.reflection.v1.ServerReflection/", "/grpc.reflection.v1alpha.ServerReflection/"}
)

// NewPolicy returns the method table.
func NewPolicy(cfg PolicyConfig) (*Policy, error) {
	docker := cfg.DockerCreateRole
	if docker == "" {
		docker = RoleAdmin
	}
	if docker != RoleAdmin && docker != RoleOperator {
		return nil, fmt.Errorf("docker create role %q: use admin or operator", docker)
	}
	p := &Policy{methods: map[string]Rule{}, services: map[string]Rule{}}
	for _, m := range viewerMethods {
		p.methods[v1+m] = Rule{Role: RoleViewer}
	}
	for _, m := range operatorMethods {
		p.methods[v1+m] = Rule{Role: RoleOperator, Write: true}
	}
	for _, m := range adminMethods {
		p.methods[v1+m] = Rule{Role: RoleAdmin, Write: true}
	}
	for _, m := range streams {
		r := p.methods[v1+m]
		r.Stream = true
		p.methods[v1+m] = r
	}
	p.methods[v1+"DockerService/CreateService"] = Rule{Role: docker, Write: true}
	p.methods[v1+"AgentService/Connect"] = Rule{Role: RoleAgent}
	p.methods[v1+"AgentService/Enroll"] = Rule{Open: true}
	for _, s := range adminServices {
		p.services[v1+s+"/"] = Rule{Role: RoleAdmin, Write: true}
	}
	for _, s := range openServices {
		p.services[s] = Rule{Open: true}
	}
	return p, nil
}

// Rule returns method's rule; ok is false for a method the table does not know, which must
// be refused. In a service whose methods are all admin-only, reads (Get*, List*) are not
// audited.
func (p *Policy) Rule(method string) (Rule, bool) {
	if r, ok := p.methods[method]; ok {
		return r, true
	}
	i := strings.LastIndexByte(method, '/')
	if i <= 0 {
		return Rule{}, false
	}
	r, ok := p.services[method[:i+1]]
	if ok && r.Write && isRead(method[i+1:]) {
		r.Write = false
	}
	return r, ok
}

func isRead(name string) bool {
	for _, prefix := range []string{"Get", "List"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// Authorize returns method's rule if p may call it: ErrPermissionDenied (wrapped) if its role
// falls short or the method is not in the table.
func (p *Policy) Authorize(who Principal, method string) (Rule, error) {
	r, ok := p.Rule(method)
	switch {
	case !ok:
		return Rule{Write: true}, fmt.Errorf("%s is not in the access table: %w", method, ErrPermissionDenied)
	case r.Open:
		return r, nil
	case !Allows(who.Role, r.Role):
		return r, fmt.Errorf("%s needs role %s, %s %q has %s: %w", method, r.Role, who.Via, who.Name, who.Role, ErrPermissionDenied)
	}
	return r, nil
}
