package docker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/page"
	"github.com/edgeplane/edgeplane/controlplane/internal/ports"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

const (
	running = edgeplanev1.ServiceState_SERVICE_STATE_RUNNING
	stopped = edgeplanev1.ServiceState_SERVICE_STATE_STOPPED
	missing = edgeplanev1.ServiceState_SERVICE_STATE_MISSING
)

// Writable fields, the update_mask paths UpdateService accepts.
var writable = []string{"image", "command", "env", "container_port", "host_port", "memory_limit", "cpu_limit",
	"restart_policy", "max_restarts", "labels", "health", "read_only_root", "user"}

// cleanupTimeout bounds undoing a failed operation, which runs even if the caller is gone.
const cleanupTimeout = 30 * time.Second

// Create validates in, stores it, leases its host port, creates and starts its container
// and publishes its endpoint. It returns the service as observed and the config revision
// of its endpoint. On failure nothing is left: no definition, container or new lease.
func (m *Manager) Create(ctx context.Context, in *edgeplanev1.Service) (*edgeplanev1.Service, int64, error) {
	if err := m.validate(ctx, "service", in); err != nil {
		return nil, 0, err
	}
	if err := m.checkImage(ctx, in); err != nil {
		return nil, 0, err
	}
	def := definition(in)
	now := timestamppb.New(clock.Now())
	def.CreateTime, def.UpdateTime, def.StartTime, def.DesiredState = now, now, now, running
	stored, err := m.store.CreateService(ctx, def)
	if err != nil {
		return nil, 0, fmt.Errorf("creating service %q: %w", def.GetName(), err)
	}
	var u undo
	svc, rev, err := m.createAndStart(ctx, stored, in.GetHostPort(), &u)
	if err != nil {
		m.undo(ctx, def.GetName(), u, true)
		return nil, 0, m.failed(ctx, "create", def.GetName(), err)
	}
	m.emit(ctx, &event.ServiceCreated{Service: svc.GetName(), Image: svc.GetImage(), HostPort: int64(svc.GetHostPort())})
	m.emit(ctx, &event.ServiceStarted{Service: svc.GetName(), ContainerID: svc.GetContainerId()})
	return svc, rev, nil
}

// undo records what a failing operation has created so far.
type undo struct{ container, lease bool }

func (m *Manager) createAndStart(ctx context.Context, stored *edgeplanev1.Service, preferred int32, u *undo) (*edgeplanev1.Service, int64, error) {
	svc, err := m.provision(ctx, stored, preferred, u)
	if err != nil {
		return nil, 0, err
	}
	if stored, err = m.store.PutService(ctx, svc, version(stored)); err != nil {
		return nil, 0, err
	}
	if err := m.startContainer(ctx, svc.GetName()); err != nil {
		return nil, 0, err
	}
	rev, err := m.publish(ctx, stored, true)
	if err != nil {
		return nil, 0, err
	}
	out, err := m.observe(ctx, stored)
	return out, rev, err
}

// provision leases svc's host port (preferred, if not 0 and the service holds none) and
// creates its container. It returns svc with host_port and container_id set.
func (m *Manager) provision(ctx context.Context, svc *edgeplanev1.Service, preferred int32, u *undo) (*edgeplanev1.Service, error) {
	lease, created, err := m.ports.Allocate(ctx, ports.Request{Purpose: PortPurpose, Owner: owner(svc.GetName()),
		Host: m.cfg.PublishAddress, Preferred: int(preferred)})
	if err != nil {
		return nil, fmt.Errorf("leasing a host port for service %q (service.host_port): %w", svc.GetName(), err)
	}
	u.lease = u.lease || created
	svc = proto.CloneOf(svc)
	svc.HostPort = int32(lease.Port)
	id, err := m.createContainer(ctx, svc)
	if err != nil {
		return nil, err
	}
	u.container = true
	svc.ContainerId = id
	return svc, nil
}

// undo removes what a failed operation created; with forget, also the definition.
func (m *Manager) undo(ctx context.Context, name string, u undo, forget bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	var errs []error
	if u.container {
		errs = append(errs, m.removeContainer(ctx, name))
	}
	if u.lease {
		if _, err := m.ports.ReleaseOwner(ctx, m.cfg.PublishAddress, PortPurpose, owner(name)); !isNotFound(err) {
			errs = append(errs, err)
		}
	}
	if forget {
		if err := m.store.DeleteService(ctx, name, 0); !isNotFound(err) {
			errs = append(errs, err)
		}
		_, err := m.unpublish(ctx, name)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		m.log.ErrorContext(ctx, "cleaning up after a failed service operation", "service", name, "err", err)
	}
}

// Get returns one service as observed.
func (m *Manager) Get(ctx context.Context, name string) (*edgeplanev1.Service, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, invalid("name", err.Error())
	}
	def, err := m.store.GetService(ctx, name)
	if err != nil {
		return nil, err
	}
	return m.observe(ctx, def)
}

// List returns a page of services ordered by name, as observed.
func (m *Manager) List(ctx context.Context, pageSize int, token string) ([]*edgeplanev1.Service, string, error) {
	defs, err := m.store.ListServices(ctx)
	if err != nil {
		return nil, "", err
	}
	items, next, err := page.Slice(defs, (*edgeplanev1.Service).GetName, pageSize, token)
	if err != nil {
		return nil, "", err
	}
	out := make([]*edgeplanev1.Service, len(items))
	for i, d := range items {
		if out[i], err = m.observe(ctx, d); err != nil {
			return nil, "", err
		}
	}
	return out, next, nil
}

// Delete stops routing to the service, removes its container, releases its port and
// forgets it; with etag set only if the service still has it. It returns the config
// revision that removed its endpoints.
func (m *Manager) Delete(ctx context.Context, name, etag string) (int64, error) {
	if err := model.ValidateName(name); err != nil {
		return 0, invalid("name", err.Error())
	}
	ifv, err := parseEtag("etag", etag)
	if err != nil {
		return 0, err
	}
	def, err := m.modify(ctx, name, ifv, func(s *edgeplanev1.Service) {
		s.DesiredState, s.StopTime = stopped, timestamppb.New(clock.Now())
	})
	if err != nil {
		return 0, err
	}
	if _, err := m.publish(ctx, def, false); err != nil {
		return 0, err
	}
	if err := m.removeContainer(ctx, name); err != nil {
		return 0, err
	}
	if _, err := m.ports.ReleaseOwner(ctx, m.cfg.PublishAddress, PortPurpose, owner(name)); err != nil && !isNotFound(err) {
		return 0, err
	}
	if err := m.store.DeleteService(ctx, name, 0); err != nil && !isNotFound(err) {
		return 0, err
	}
	rev, err := m.unpublish(ctx, name)
	if err != nil {
		return 0, err
	}
	m.emit(ctx, &event.ServiceDeleted{Service: name, HostPort: int64(def.GetHostPort())})
	return rev, nil
}

// maxConflictRetries bounds read-modify-write retries without a caller's etag.
const maxConflictRetries = 20

// modify applies fn to the stored definition of name and stores it; with ifVersion set,
// only if the definition is at that version (model.ErrConflict otherwise), without, it
// retries on concurrent changes.
func (m *Manager) modify(ctx context.Context, name string, ifVersion int64, fn func(*edgeplanev1.Service)) (*edgeplanev1.Service, error) {
	for range maxConflictRetries {
		cur, err := m.store.GetService(ctx, name)
		if err != nil {
			return nil, err
		}
		if ifVersion != 0 && version(cur) != ifVersion {
			return nil, fmt.Errorf("service %q is at etag %s: %w", name, cur.GetEtag(), model.ErrConflict)
		}
		next := proto.CloneOf(cur)
		fn(next)
		next.UpdateTime = timestamppb.New(clock.Now())
		out, err := m.store.PutService(ctx, next, version(cur))
		if errors.Is(err, model.ErrConflict) && ifVersion == 0 {
			continue
		}
		return out, err
	}
	return nil, fmt.Errorf("changing service %q: %w after %d attempts", name, model.ErrConflict, maxConflictRetries)
}

// definition copies the writable fields of in.
func definition(in *edgeplanev1.Service) *edgeplanev1.Service {
	out := &edgeplanev1.Service{Name: in.GetName()}
	applyMask(out, in, writable)
	return out
}

// applyMask copies the fields named in paths from src to dst (src's values are cloned).
func applyMask(dst, src *edgeplanev1.Service, paths []string) {
	src = proto.CloneOf(src)
	d, s := dst.ProtoReflect(), src.ProtoReflect()
	fields := d.Descriptor().Fields()
	for _, p := range paths {
		fd := fields.ByName(protoreflect.Name(p))
		if s.Has(fd) {
			d.Set(fd, s.Get(fd))
		} else {
			d.Clear(fd)
		}
	}
}

func version(svc *edgeplanev1.Service) int64 {
	v, _ := store.ParseEtag(svc.GetEtag())
	return v
}

func parseEtag(field, etag string) (int64, error) {
	if etag == "" {
		return 0, nil
	}
	v, err := store.ParseEtag(etag)
	if err != nil {
		return 0, invalid(field, err.Error())
	}
	return v, nil
}

func invalid(field, desc string) error {
	return &model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: desc}}}
}

// Declared returns the writable fields of in: what a caller declares of a service (for
// ConfigService.ApplyConfig's comparisons).
func Declared(in *edgeplanev1.Service) *edgeplanev1.Service { return definition(in) }

// Validate checks a service as Create would before touching anything, with field paths
// under prefix ("services[2]").
func (m *Manager) Validate(ctx context.Context, prefix string, in *edgeplanev1.Service) error {
	return m.validate(ctx, prefix, in)
}
