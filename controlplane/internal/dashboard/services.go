package dashboard

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Bounds of a service page's logs tail.
const (
	logLines   = 100
	logTimeout = 3 * time.Second
)

type serviceRow struct {
	*edgeplanev1.Service
	State string
}

type servicesData struct {
	Services []serviceRow
	Disabled string // why Docker services are unavailable, if they are
	More     bool
}

// servicesPage lists Docker services: state, health, host port.
func (d *Dashboard) servicesPage(w http.ResponseWriter, r *http.Request, v visitor) {
	var data servicesData
	res, err := d.docker.ListServices(v.ctx(r), &edgeplanev1.ListServicesRequest{PageSize: listSize})
	switch {
	case unavailable(err):
		data.Disabled = status.Convert(err).Message()
	case err != nil:
		d.fail(w, r, err, 0, "")
		return
	}
	data.More = res.GetNextPageToken() != ""
	for _, s := range res.GetServices() {
		data.Services = append(data.Services, serviceRow{Service: s, State: enumName("SERVICE_STATE_", s.GetState())})
	}
	d.render(w, r, http.StatusOK, "services", page{Title: "Services", Nav: "services", Refresh: 3000, V: v, Data: data})
}

// unavailable: DockerService is not registered (no engine) or cannot reach it.
func unavailable(err error) bool {
	c := status.Code(err)
	return err != nil && (c == codes.Unimplemented || c == codes.Unavailable)
}

type serviceData struct {
	Service serviceRow
	Logs    []*edgeplanev1.StreamServiceLogsResponse
	LogErr  string
}

// servicePage shows one service and the tail of its logs.
func (d *Dashboard) servicePage(w http.ResponseWriter, r *http.Request, v visitor) {
	name := r.PathValue("name")
	if err := model.ValidateName(name); err != nil {
		d.fail(w, r, nil, http.StatusBadRequest, "service name: "+err.Error())
		return
	}
	res, err := d.docker.GetService(v.ctx(r), &edgeplanev1.GetServiceRequest{Name: name})
	if err != nil {
		d.fail(w, r, err, 0, "")
		return
	}
	s := res.GetService()
	data := serviceData{Service: serviceRow{Service: s, State: enumName("SERVICE_STATE_", s.GetState())}}
	data.Logs, err = d.tailLogs(r, v, name)
	if err != nil {
		data.LogErr = status.Convert(err).Message()
	}
	d.render(w, r, http.StatusOK, "service", page{Title: "Service " + name, Nav: "services", Refresh: 3000, V: v, Data: data})
}

// tailLogs reads the last logLines lines (no follow), within logTimeout.
func (d *Dashboard) tailLogs(r *http.Request, v visitor, name string) ([]*edgeplanev1.StreamServiceLogsResponse, error) {
	ctx, cancel := context.WithTimeout(v.ctx(r), logTimeout)
	defer cancel()
	stream, err := d.docker.StreamServiceLogs(ctx, &edgeplanev1.StreamServiceLogsRequest{Name: name, Tail: logLines})
	if err != nil {
		return nil, err
	}
	var out []*edgeplanev1.StreamServiceLogsResponse
	for len(out) < logLines {
		line, err := stream.Recv()
		if errors.Is(err, io.EOF) || (err != nil && ctx.Err() != nil && len(out) > 0) {
			break
		}
		if err != nil {
			return out, err
		}
		out = append(out, line)
	}
	return out, nil
}
