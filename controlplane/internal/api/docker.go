package api

import (
	"context"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/docker"
	"github.com/edgeplane/edgeplane/controlplane/internal/fanout"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Docker implements edgeplanev1.DockerServiceServer.
type Docker struct {
	edgeplanev1.UnimplementedDockerServiceServer
	Services *docker.Manager
	Fleet    *fanout.Fanout
}

var _ edgeplanev1.DockerServiceServer = (*Docker)(nil)

// CreateService implements DockerService.CreateService.
func (h *Docker) CreateService(ctx context.Context, req *edgeplanev1.CreateServiceRequest) (*edgeplanev1.CreateServiceResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	svc, rev, err := h.Services.Create(ctx, req.GetService())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.CreateServiceResponse{Service: svc, Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// GetService implements DockerService.GetService.
func (h *Docker) GetService(ctx context.Context, req *edgeplanev1.GetServiceRequest) (*edgeplanev1.GetServiceResponse, error) {
	svc, err := h.Services.Get(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.GetServiceResponse{Service: svc}, nil
}

// ListServices implements DockerService.ListServices.
func (h *Docker) ListServices(ctx context.Context, req *edgeplanev1.ListServicesRequest) (*edgeplanev1.ListServicesResponse, error) {
	svcs, next, err := h.Services.List(ctx, int(req.GetPageSize()), req.GetPageToken())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.ListServicesResponse{Services: svcs, NextPageToken: next}, nil
}

// UpdateService implements DockerService.UpdateService.
func (h *Docker) UpdateService(ctx context.Context, req *edgeplanev1.UpdateServiceRequest) (*edgeplanev1.UpdateServiceResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	svc, rev, err := h.Services.Update(ctx, req.GetService(), req.GetUpdateMask().GetPaths())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.UpdateServiceResponse{Service: svc, Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// DeleteService implements DockerService.DeleteService.
func (h *Docker) DeleteService(ctx context.Context, req *edgeplanev1.DeleteServiceRequest) (*edgeplanev1.DeleteServiceResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	rev, err := h.Services.Delete(ctx, req.GetName(), req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.DeleteServiceResponse{Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// StartService implements DockerService.StartService.
func (h *Docker) StartService(ctx context.Context, req *edgeplanev1.StartServiceRequest) (*edgeplanev1.StartServiceResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	svc, rev, err := h.Services.Start(ctx, req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.StartServiceResponse{Service: svc, Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// StopService implements DockerService.StopService.
func (h *Docker) StopService(ctx context.Context, req *edgeplanev1.StopServiceRequest) (*edgeplanev1.StopServiceResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	timeout, err := stopTimeout(req.GetTimeout())
	if err != nil {
		return nil, err
	}
	svc, rev, err := h.Services.Stop(ctx, req.GetName(), timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.StopServiceResponse{Service: svc, Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// RestartService implements DockerService.RestartService.
func (h *Docker) RestartService(ctx context.Context, req *edgeplanev1.RestartServiceRequest) (*edgeplanev1.RestartServiceResponse, error) {
	wait, err := waitFor(req.GetWaitForAgents())
	if err != nil {
		return nil, err
	}
	timeout, err := stopTimeout(req.GetTimeout())
	if err != nil {
		return nil, err
	}
	svc, rev, err := h.Services.Restart(ctx, req.GetName(), timeout)
	if err != nil {
		return nil, toStatus(err)
	}
	return &edgeplanev1.RestartServiceResponse{Service: svc, Propagation: propagate(ctx, h.Fleet, rev, wait)}, nil
}

// StreamServiceLogs implements DockerService.StreamServiceLogs.
func (h *Docker) StreamServiceLogs(req *edgeplanev1.StreamServiceLogsRequest, stream edgeplanev1.DockerService_StreamServiceLogsServer) error {
	o := docker.LogOptions{Follow: req.GetFollow(), Tail: int(req.GetTail())}
	if req.GetSince() != nil {
		if err := req.GetSince().CheckValid(); err != nil {
			return invalid("since", err.Error())
		}
		o.Since = req.GetSince().AsTime()
	}
	err := h.Services.Logs(stream.Context(), req.GetName(), o, func(l docker.LogLine) error {
		res := &edgeplanev1.StreamServiceLogsResponse{Text: l.Text, Stream: edgeplanev1.ServiceLogStream_SERVICE_LOG_STREAM_STDOUT}
		if l.Stderr {
			res.Stream = edgeplanev1.ServiceLogStream_SERVICE_LOG_STREAM_STDERR
		}
		if !l.Time.IsZero() {
			res.Time = timestamppb.New(l.Time)
		}
		return stream.Send(res)
	})
	return toStatus(err)
}

func stopTimeout(d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, invalid("timeout", err.Error())
	}
	return d.AsDuration(), nil
}
