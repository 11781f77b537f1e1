package event

// Docker-managed services (the docker package).

// ServiceCreated: a service was defined, its port leased.
type ServiceCreated struct {
	Service, Image string
	HostPort       int64
}

// ServiceStarted: a service's container started (ContainerID may be empty when the start
// was requested rather than seen).
type ServiceStarted struct{ Service, ContainerID string }

// ServiceStopped: a service was stopped on request.
type ServiceStopped struct{ Service string }

// ServiceDied: a service's container exited without being asked to.
type ServiceDied struct{ Service, ContainerID, ExitCode string }

// ServiceOOM: a service's container was killed for memory.
type ServiceOOM struct{ Service, ContainerID string }

// ServiceHealth: a service's container changed health status.
type ServiceHealth struct{ Service, ContainerID, HealthStatus string }

// ServiceMissing: a defined service's container is gone from the engine.
type ServiceMissing struct{ Service, ContainerID string }

// ServiceUnknownContainer: the engine runs a container of this namespace that no service
// defines.
type ServiceUnknownContainer struct {
	Service, ContainerID string
	ContainerNames       string // comma-separated
}

// ServiceFailed: an operation on a service failed after the request was accepted (the
// engine or the port allocator refused it).
type ServiceFailed struct{ Service, Operation, Error string }

// ServiceDeleted: a service was deleted and its port released.
type ServiceDeleted struct {
	Service  string
	HostPort int64
}

func (*ServiceCreated) Type() string          { return "service_created" }
func (*ServiceStarted) Type() string          { return "service_started" }
func (*ServiceStopped) Type() string          { return "service_stopped" }
func (*ServiceDied) Type() string             { return "service_died" }
func (*ServiceOOM) Type() string              { return "service_oom" }
func (*ServiceHealth) Type() string           { return "service_health" }
func (*ServiceMissing) Type() string          { return "service_missing" }
func (*ServiceUnknownContainer) Type() string { return "service_unknown_container" }
func (*ServiceDeleted) Type() string          { return "service_deleted" }
func (*ServiceFailed) Type() string           { return "service_failed" }

func (e *ServiceCreated) visit(c codec) {
	c.str("service", &e.Service)
	c.str("image", &e.Image)
	c.int("host_port", &e.HostPort)
}

func (e *ServiceStarted) visit(c codec) { container(c, &e.Service, &e.ContainerID) }
func (e *ServiceStopped) visit(c codec) { c.str("service", &e.Service) }
func (e *ServiceOOM) visit(c codec)     { container(c, &e.Service, &e.ContainerID) }
func (e *ServiceMissing) visit(c codec) { container(c, &e.Service, &e.ContainerID) }

func (e *ServiceDied) visit(c codec) {
	container(c, &e.Service, &e.ContainerID)
	c.str("exit_code", &e.ExitCode)
}

func (e *ServiceHealth) visit(c codec) {
	container(c, &e.Service, &e.ContainerID)
	c.str("health_status", &e.HealthStatus)
}

func (e *ServiceUnknownContainer) visit(c codec) {
	container(c, &e.Service, &e.ContainerID)
	c.str("container_names", &e.ContainerNames)
}

func (e *ServiceDeleted) visit(c codec) {
	c.str("service", &e.Service)
	c.int("host_port", &e.HostPort)
}

func (e *ServiceFailed) visit(c codec) {
	c.str("service", &e.Service)
	c.str("operation", &e.Operation)
	c.str("error", &e.Error)
}

func container(c codec, service, id *string) {
	c.str("service", service)
	c.str("container_id", id)
}

var (
	_ = register[ServiceCreated]()
	_ = register[ServiceStarted]()
	_ = register[ServiceStopped]()
	_ = register[ServiceDied]()
	_ = register[ServiceOOM]()
	_ = register[ServiceHealth]()
	_ = register[ServiceMissing]()
	_ = register[ServiceUnknownContainer]()
	_ = register[ServiceDeleted]()
	_ = register[ServiceFailed]()
)
