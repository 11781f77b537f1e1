package docker

import (
	"context"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Stop timeouts.
const (
	DefaultStopTimeout = 10 * time.Second
	MaxStopTimeout     = 5 * time.Minute
)

// Start starts the service's container, recreating it if it is missing, and publishes its
// endpoint. It returns the service as observed and the config revision of its endpoint.
func (m *Manager) Start(ctx context.Context, name string) (*edgeplanev1.Service, int64, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, 0, invalid("name", err.Error())
	}
	def, err := m.modify(ctx, name, 0, func(s *edgeplanev1.Service) {
		s.DesiredState, s.StartTime = running, timestamppb.New(clock.Now())
	})
	if err != nil {
		return nil, 0, err
	}
	cur, err := m.observe(ctx, def)
	if err != nil {
		return nil, 0, err
	}
	if cur.GetState() == missing {
		if def, err = m.recreate(ctx, def); err != nil {
			return nil, 0, m.failed(ctx, "start", name, err)
		}
	}
	if err := m.startContainer(ctx, name); err != nil {
		return nil, 0, m.failed(ctx, "start", name, err)
	}
	rev, err := m.publish(ctx, def, true)
	if err != nil {
		return nil, 0, err
	}
	m.emit(ctx, &event.ServiceStarted{Service: name})
	out, err := m.observe(ctx, def)
	return out, rev, err
}

// recreate makes a new container for a service whose container is gone, on the port the
// service holds (or had), and stores its ID.
func (m *Manager) recreate(ctx context.Context, def *edgeplanev1.Service) (*edgeplanev1.Service, error) {
	var u undo
	svc, err := m.provision(ctx, def, def.GetHostPort(), &u)
	if err != nil {
		return nil, err
	}
	m.log.InfoContext(ctx, "service container recreated", "service", def.GetName(), "container_id", svc.GetContainerId())
	return m.modify(ctx, def.GetName(), 0, func(s *edgeplanev1.Service) {
		s.ContainerId, s.HostPort = svc.GetContainerId(), svc.GetHostPort()
	})
}

// Stop withdraws the service's endpoint (routes to it answer 503) and then stops its
// container, giving it timeout (0: DefaultStopTimeout) to exit after SIGTERM.
func (m *Manager) Stop(ctx context.Context, name string, timeout time.Duration) (*edgeplanev1.Service, int64, error) {
	if err := model.ValidateName(name); err != nil {
		return nil, 0, invalid("name", err.Error())
	}
	secs, err := stopSeconds(timeout)
	if err != nil {
		return nil, 0, err
	}
	def, err := m.modify(ctx, name, 0, func(s *edgeplanev1.Service) {
		s.DesiredState, s.StopTime = stopped, timestamppb.New(clock.Now())
	})
	if err != nil {
		return nil, 0, err
	}
	rev, err := m.publish(ctx, def, false)
	if err != nil {
		return nil, 0, err
	}
	if err := m.stopContainer(ctx, name, secs); err != nil && !isNotFound(err) {
		return nil, 0, err
	}
	m.emit(ctx, &event.ServiceStopped{Service: name})
	out, err := m.observe(ctx, def)
	return out, rev, err
}

// Restart stops and starts the service.
func (m *Manager) Restart(ctx context.Context, name string, timeout time.Duration) (*edgeplanev1.Service, int64, error) {
	if _, _, err := m.Stop(ctx, name, timeout); err != nil {
		return nil, 0, err
	}
	return m.Start(ctx, name)
}

func stopSeconds(d time.Duration) (int, error) {
	switch {
	case d == 0:
		return int(DefaultStopTimeout / time.Second), nil
	case d < 0 || d > MaxStopTimeout:
		return 0, invalid("timeout", fmt.Sprintf("%s is out of range 0-%s", d, MaxStopTimeout))
	}
	return int((d + time.Second - 1) / time.Second), nil
}

// Update changes the fields of in named in mask (every writable field when it is empty)
// and replaces the container, keeping it running or stopped. With in.Etag set it fails
// with model.ErrConflict if the service changed since. A host_port of 0 keeps the port.
func (m *Manager) Update(ctx context.Context, in *edgeplanev1.Service, mask []string) (*edgeplanev1.Service, int64, error) {
	if in == nil {
		return nil, 0, invalid("service", "is required")
	}
	if err := model.ValidateName(in.GetName()); err != nil {
		return nil, 0, invalid("service.name", err.Error())
	}
	ifv, err := parseEtag("service.etag", in.GetEtag())
	if err != nil {
		return nil, 0, err
	}
	if len(mask) == 0 {
		mask = writable
	}
	for _, p := range mask {
		if !slices.Contains(writable, p) {
			return nil, 0, invalid("update_mask", fmt.Sprintf("%q is not a writable field of a service", p))
		}
	}
	cur, err := m.store.GetService(ctx, in.GetName())
	if err != nil {
		return nil, 0, err
	}
	if ifv != 0 && version(cur) != ifv {
		return nil, 0, fmt.Errorf("service %q is at etag %s: %w", in.GetName(), cur.GetEtag(), model.ErrConflict)
	}
	next := proto.CloneOf(cur)
	applyMask(next, in, mask)
	if next.GetHostPort() == 0 {
		next.HostPort = cur.GetHostPort()
	}
	if err := m.validate(ctx, "service", next); err != nil {
		return nil, 0, err
	}
	if next.GetImage() != cur.GetImage() || next.GetUser() != cur.GetUser() {
		if err := m.checkImage(ctx, next); err != nil {
			return nil, 0, err
		}
	}
	now := timestamppb.New(clock.Now())
	next.UpdateTime, next.StopTime = now, now
	if next.GetDesiredState() == running {
		next.StartTime = now
	}
	stored, err := m.store.PutService(ctx, next, version(cur))
	if err != nil {
		return nil, 0, err
	}
	out, rev, err := m.replace(ctx, cur, stored)
	return out, rev, m.failed(ctx, "update", next.GetName(), err)
}

// replace swaps the container of cur for one made from next, moving the port lease if
// next asks for another port.
func (m *Manager) replace(ctx context.Context, cur, next *edgeplanev1.Service) (*edgeplanev1.Service, int64, error) {
	name := next.GetName()
	if err := m.removeContainer(ctx, name); err != nil {
		return nil, 0, err
	}
	if next.GetHostPort() != cur.GetHostPort() {
		if _, err := m.ports.ReleaseOwner(ctx, m.cfg.PublishAddress, PortPurpose, owner(name)); err != nil && !isNotFound(err) {
			return nil, 0, err
		}
	}
	var u undo
	svc, err := m.provision(ctx, next, next.GetHostPort(), &u)
	if err != nil {
		return nil, 0, err
	}
	stored, err := m.modify(ctx, name, 0, func(s *edgeplanev1.Service) {
		s.ContainerId, s.HostPort = svc.GetContainerId(), svc.GetHostPort()
	})
	if err != nil {
		return nil, 0, err
	}
	run := stored.GetDesiredState() == running
	if run {
		if err := m.startContainer(ctx, name); err != nil {
			return nil, 0, err
		}
	}
	rev, err := m.publish(ctx, stored, run)
	if err != nil {
		return nil, 0, err
	}
	m.log.InfoContext(ctx, "service updated", "service", name, "container_id", svc.GetContainerId(), "host_port", svc.GetHostPort())
	if run {
		m.emit(ctx, &event.ServiceStarted{Service: name, ContainerID: svc.GetContainerId()})
	}
	out, err := m.observe(ctx, stored)
	return out, rev, err
}
