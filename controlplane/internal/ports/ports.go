// Package ports leases host ports to owners (Docker services, TCP listeners) from ranges
// configured per purpose. Leases live in Redis (see store/ports.go): they survive restarts,
// and one Lua script per allocation means no two replicas ever hand out the same port.
// A freshly leased port that turns out to be in use on this machine is given back and the
// search goes on past it.
package ports

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"sort"
	"strings"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/page"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// Config configures an Allocator.
type Config struct {
	// Store keeps the leases. Required.
	Store *store.Store
	// Ranges maps each purpose to its range. Default DefaultRanges.
	Ranges map[string]Range
	// Reserved ports are never leased.
	Reserved []Range
	// DefaultHost is the host of requests that name none. Default "127.0.0.1".
	DefaultHost string
	// Busy reports whether a port of a local host is in use. Default: it is when binding it
	// fails with EADDRINUSE.
	Busy func(host string, port int) bool
	// Events receives event.PortAllocated and event.PortReleased. Nil: they are only logged.
	Events func(ctx context.Context, e event.Event)
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Allocator leases ports. It is safe for concurrent use, also by many replicas on one Redis.
type Allocator struct {
	cfg   Config
	log   *slog.Logger
	local map[string]bool // addresses of this machine; read-only after New
}

// maxBusy bounds how many busy ports one allocation skips before giving up.
const maxBusy = 64

// New returns an Allocator.
func New(cfg Config) *Allocator {
	if cfg.Ranges == nil {
		cfg.Ranges = DefaultRanges
	}
	if cfg.DefaultHost == "" {
		cfg.DefaultHost = "127.0.0.1"
	}
	if cfg.Busy == nil {
		cfg.Busy = busy
	}
	a := &Allocator{cfg: cfg, log: cfg.Logger, local: localAddrs()}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	return a
}

// Request asks for a port.
type Request struct {
	Purpose string // selects the range
	Owner   string // holder of the lease
	Host    string // "" means Config.DefaultHost
	// Preferred is the one port wanted; 0 lets the allocator choose.
	Preferred int
}

var ownerPattern = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)

// Allocate returns r.Owner's lease for r.Purpose on the host, leasing a port if it has none
// (created is then true). Errors: *model.ValidationError (fields purpose, owner, host,
// preferred); model.ErrAlreadyExists (preferred leased to another owner);
// model.ErrFailedPrecondition (preferred busy on the host); model.ErrExhausted.
func (a *Allocator) Allocate(ctx context.Context, r Request) (lease store.PortLease, created bool, err error) {
	r.Host = a.Host(r.Host)
	rng, err := a.validate(r)
	if err != nil {
		return store.PortLease{}, false, err
	}
	req := store.LeaseRequest{Host: r.Host, Purpose: r.Purpose, Owner: r.Owner, Lo: rng.Lo, Hi: rng.Hi,
		Start: Preferred(rng, r.Owner), Excluded: a.excluded(rng)}
	if r.Preferred != 0 {
		req.Start, req.Strict = r.Preferred, true
	}
	for range maxBusy {
		lease, created, err := a.cfg.Store.LeasePort(ctx, req)
		if err != nil {
			return store.PortLease{}, false, err
		}
		if !created || !a.isLocal(r.Host) || !a.cfg.Busy(r.Host, lease.Port) {
			if created {
				a.emit(ctx, &event.PortAllocated{Lease: leaseOf(lease)})
			}
			return lease, created, nil
		}
		// Something outside edgeplane listens there: give it back and look further.
		if _, err := a.cfg.Store.ReleasePort(ctx, r.Host, lease.Port, r.Owner); err != nil {
			return store.PortLease{}, false, fmt.Errorf("giving back busy port %d: %w", lease.Port, err)
		}
		a.log.DebugContext(ctx, "port busy on the host, skipped", "host", r.Host, "port", lease.Port)
		if req.Strict {
			return store.PortLease{}, false, fmt.Errorf("port %d is in use on %s: %w", lease.Port, r.Host, model.ErrFailedPrecondition)
		}
		req.Excluded = append(req.Excluded, [2]int{lease.Port, lease.Port})
	}
	return store.PortLease{}, false, fmt.Errorf("leasing a %s port on %s: %d leased ports in a row were busy: %w", r.Purpose, r.Host, maxBusy, model.ErrExhausted)
}

// Release ends the lease of port on host ("" = default host); with owner set only if it is
// owner's. Errors: model.ErrNotFound, model.ErrFailedPrecondition (another owner's).
func (a *Allocator) Release(ctx context.Context, host string, port int, owner string) (store.PortLease, error) {
	host = a.Host(host)
	if port < 1 || port > 65535 {
		return store.PortLease{}, invalid("port", fmt.Sprintf("%d is not a port (1-65535)", port))
	}
	lease, err := a.cfg.Store.ReleasePort(ctx, host, port, owner)
	if err == nil {
		a.emit(ctx, &event.PortReleased{Lease: leaseOf(lease)})
	}
	return lease, err
}

// ReleaseOwner ends owner's lease for purpose on host ("" = default host).
// model.ErrNotFound if there is none.
func (a *Allocator) ReleaseOwner(ctx context.Context, host, purpose, owner string) (store.PortLease, error) {
	host = a.Host(host)
	lease, err := a.cfg.Store.ReleaseOwnerPort(ctx, host, purpose, owner)
	if err == nil {
		a.emit(ctx, &event.PortReleased{Lease: leaseOf(lease)})
	}
	return lease, err
}

// Filter selects leases; empty fields match all.
type Filter struct{ Purpose, Owner, Host string }

// List returns a page of the leases matching f, ordered by host, then port.
func (a *Allocator) List(ctx context.Context, f Filter, pageSize int, token string) ([]store.PortLease, string, error) {
	all, err := a.cfg.Store.PortLeases(ctx)
	if err != nil {
		return nil, "", err
	}
	kept := all[:0]
	for _, l := range all {
		if (f.Purpose == "" || l.Purpose == f.Purpose) && (f.Owner == "" || l.Owner == f.Owner) && (f.Host == "" || l.Host == f.Host) {
			kept = append(kept, l)
		}
	}
	return page.Slice(kept, store.PortLease.Key, pageSize, token)
}

// Host returns host, or the default host when it is empty.
func (a *Allocator) Host(host string) string {
	if host == "" {
		return a.cfg.DefaultHost
	}
	return host
}

// CheckPreferred says why port cannot be asked for as purpose's preferred port (outside
// the range, or reserved), or nil if it can.
func (a *Allocator) CheckPreferred(purpose string, port int) error {
	rng, ok := a.cfg.Ranges[purpose]
	switch {
	case !ok:
		return fmt.Errorf("no port range for purpose %q", purpose)
	case !rng.Contains(port):
		return fmt.Errorf("%d is outside the %s range %s", port, purpose, rng)
	}
	for _, r := range a.cfg.Reserved {
		if r.Contains(port) {
			return fmt.Errorf("%d is reserved (%s)", port, r)
		}
	}
	return nil
}

func (a *Allocator) validate(r Request) (Range, error) {
	var vs []model.FieldViolation
	rng, ok := a.cfg.Ranges[r.Purpose]
	if !ok {
		vs = append(vs, model.FieldViolation{Field: "purpose", Description: fmt.Sprintf("%q has no port range; configured: %s", r.Purpose, a.purposes())})
	}
	if !ownerPattern.MatchString(r.Owner) {
		vs = append(vs, model.FieldViolation{Field: "owner", Description: "1-200 printable ASCII characters without spaces"})
	}
	if net.ParseIP(r.Host) == nil && model.ValidateHost(r.Host) != nil {
		vs = append(vs, model.FieldViolation{Field: "host", Description: fmt.Sprintf("%q is not an IP address or host name", r.Host)})
	}
	if r.Preferred != 0 && ok {
		if err := a.CheckPreferred(r.Purpose, r.Preferred); err != nil {
			vs = append(vs, model.FieldViolation{Field: "preferred", Description: err.Error()})
		}
	}
	if len(vs) > 0 {
		return Range{}, &model.ValidationError{Violations: vs}
	}
	return rng, nil
}

func (a *Allocator) excluded(rng Range) [][2]int {
	var out [][2]int
	for _, r := range a.cfg.Reserved {
		if r.Hi >= rng.Lo && r.Lo <= rng.Hi {
			out = append(out, [2]int{r.Lo, r.Hi})
		}
	}
	return out
}

func (a *Allocator) purposes() string {
	names := make([]string, 0, len(a.cfg.Ranges))
	for p, r := range a.cfg.Ranges {
		names = append(names, p+"="+r.String())
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (a *Allocator) emit(ctx context.Context, e event.Event) {
	a.log.LogAttrs(ctx, slog.LevelInfo, e.Type(), append(event.Attrs(e), slog.String("event_type", e.Type()))...)
	if a.cfg.Events != nil {
		a.cfg.Events(ctx, e)
	}
}

// leaseOf names l in its events.
func leaseOf(l store.PortLease) event.Lease {
	return event.Lease{Port: int64(l.Port), Host: l.Host, Purpose: l.Purpose, Owner: l.Owner}
}

func invalid(field, desc string) error {
	return &model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: desc}}}
}
