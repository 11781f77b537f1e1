package docker

import (
	"cmp"
	"context"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// createOptions is the container a service definition describes.
func (m *Manager) createOptions(svc *edgeplanev1.Service) client.ContainerCreateOptions {
	port, _ := network.PortFrom(uint16(svc.GetContainerPort()), network.TCP)
	hostIP, _ := netip.ParseAddr(m.cfg.PublishAddress) // checked by app; invalid means all interfaces
	labels := map[string]string{}
	for k, v := range svc.GetLabels() {
		labels[k] = v
	}
	labels[LabelManaged] = "true"
	labels[LabelNamespace] = m.cfg.Namespace
	labels[LabelService] = svc.GetName()
	env := make([]string, 0, len(svc.GetEnv()))
	for k, v := range svc.GetEnv() {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return client.ContainerCreateOptions{
		Name: m.containerName(svc.GetName()),
		Config: &container.Config{
			Image:        svc.GetImage(),
			Cmd:          svc.GetCommand(),
			Env:          env,
			User:         svc.GetUser(),
			Labels:       labels,
			ExposedPorts: network.PortSet{port: {}},
			Healthcheck:  healthConfig(svc.GetHealth()),
		},
		HostConfig: &container.HostConfig{
			PortBindings:   network.PortMap{port: {{HostIP: hostIP, HostPort: strconv.Itoa(int(svc.GetHostPort()))}}},
			RestartPolicy:  restartPolicy(svc),
			ReadonlyRootfs: svc.GetReadOnlyRoot(),
			Resources: container.Resources{
				Memory:    cmp.Or(svc.GetMemoryLimit(), m.policy.DefaultMemory),
				NanoCPUs:  int64(svc.GetCpuLimit() * 1e9),
				PidsLimit: new(m.policy.PidsLimit),
			},
		},
	}
}

func restartPolicy(svc *edgeplanev1.Service) container.RestartPolicy {
	switch svc.GetRestartPolicy() {
	case edgeplanev1.RestartPolicy_RESTART_POLICY_ALWAYS:
		return container.RestartPolicy{Name: container.RestartPolicyAlways}
	case edgeplanev1.RestartPolicy_RESTART_POLICY_UNLESS_STOPPED:
		return container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}
	case edgeplanev1.RestartPolicy_RESTART_POLICY_ON_FAILURE:
		return container.RestartPolicy{Name: container.RestartPolicyOnFailure, MaximumRetryCount: int(svc.GetMaxRestarts())}
	}
	return container.RestartPolicy{Name: container.RestartPolicyDisabled}
}

func healthConfig(h *edgeplanev1.ServiceHealth) *container.HealthConfig {
	if h == nil {
		return nil
	}
	return &container.HealthConfig{
		Test:        append([]string{"CMD"}, h.GetCommand()...),
		Interval:    h.GetInterval().AsDuration(),
		Timeout:     h.GetTimeout().AsDuration(),
		StartPeriod: h.GetStartPeriod().AsDuration(),
		Retries:     int(h.GetRetries()),
	}
}

// createContainer creates svc's container and returns its ID.
func (m *Manager) createContainer(ctx context.Context, svc *edgeplanev1.Service) (string, error) {
	res, err := m.engine.ContainerCreate(ctx, m.createOptions(svc))
	if err != nil {
		err = engineErr(err, fmt.Sprintf("creating container %q", m.containerName(svc.GetName())))
		if isExists(err) {
			return "", fmt.Errorf("container name %q is taken on the Docker engine: %w", m.containerName(svc.GetName()), err)
		}
		return "", err
	}
	return res.ID, nil
}

func (m *Manager) startContainer(ctx context.Context, name string) error {
	_, err := m.engine.ContainerStart(ctx, m.containerName(name), client.ContainerStartOptions{})
	return engineErr(err, fmt.Sprintf("starting container %q", m.containerName(name)))
}

func (m *Manager) stopContainer(ctx context.Context, name string, timeoutSec int) error {
	_, err := m.engine.ContainerStop(ctx, m.containerName(name), client.ContainerStopOptions{Timeout: &timeoutSec})
	return engineErr(err, fmt.Sprintf("stopping container %q", m.containerName(name)))
}

// removeContainer force-removes name's container; one that is already gone is not an error.
func (m *Manager) removeContainer(ctx context.Context, name string) error {
	_, err := m.engine.ContainerRemove(ctx, m.containerName(name), client.ContainerRemoveOptions{Force: true})
	if err = engineErr(err, fmt.Sprintf("removing container %q", m.containerName(name))); isNotFound(err) {
		return nil
	}
	return err
}

// endpoint is where agents reach svc.
func (m *Manager) endpoint(svc *edgeplanev1.Service) string {
	return "http://" + net.JoinHostPort(m.cfg.PublishAddress, strconv.Itoa(int(svc.GetHostPort())))
}
