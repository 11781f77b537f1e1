package event

// Port leases (the ports package).

// Lease is a port lease an event is about.
type Lease struct {
	Port                 int64
	Host, Purpose, Owner string
}

// PortAllocated: a port was leased.
type PortAllocated struct{ Lease }

// PortReleased: a port lease ended.
type PortReleased struct{ Lease }

func (*PortAllocated) Type() string { return "port_allocated" }
func (*PortReleased) Type() string  { return "port_released" }

func (e *Lease) visit(c codec) {
	c.int("port", &e.Port)
	c.str("host", &e.Host)
	c.str("purpose", &e.Purpose)
	c.str("owner", &e.Owner)
}

var (
	_ = register[PortAllocated]()
	_ = register[PortReleased]()
)
