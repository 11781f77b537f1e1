package docker

import (
	"context"
	"errors"
	"fmt"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// observe returns a copy of the definition svc with the container's state filled in.
func (m *Manager) observe(ctx context.Context, svc *edgeplanev1.Service) (*edgeplanev1.Service, error) {
	out := proto.CloneOf(svc)
	out.Endpoint = m.endpoint(svc)
	res, err := m.engine.ContainerInspect(ctx, m.containerName(svc.GetName()), client.ContainerInspectOptions{})
	if err = engineErr(err, fmt.Sprintf("inspecting container %q", m.containerName(svc.GetName()))); isNotFound(err) {
		out.State = edgeplanev1.ServiceState_SERVICE_STATE_MISSING
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	c := res.Container
	out.ContainerId = c.ID
	if st := c.State; st != nil {
		out.State = stateOf(st.Status)
		out.ExitCode = int32(st.ExitCode)
		if st.Health != nil {
			out.HealthStatus = string(st.Health.Status)
		}
	}
	return out, nil
}

func stateOf(s container.ContainerState) edgeplanev1.ServiceState {
	switch s {
	case container.StateCreated:
		return edgeplanev1.ServiceState_SERVICE_STATE_CREATED
	case container.StateRunning:
		return edgeplanev1.ServiceState_SERVICE_STATE_RUNNING
	case container.StateRestarting:
		return edgeplanev1.ServiceState_SERVICE_STATE_RESTARTING
	}
	return edgeplanev1.ServiceState_SERVICE_STATE_STOPPED
}

func isNotFound(err error) bool { return errors.Is(err, model.ErrNotFound) }
func isExists(err error) bool   { return errors.Is(err, model.ErrAlreadyExists) }
