package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/dockertest"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func (c *control) Docker() edgeplanev1.DockerServiceClient {
	return edgeplanev1.NewDockerServiceClient(c.conn)
}

func (c *control) Ports() edgeplanev1.PortServiceClient {
	return edgeplanev1.NewPortServiceClient(c.conn)
}

// dockerEnv is a control plane on a real Docker engine with a namespace of its own (its
// containers are removed when the test ends) and the test image.
type dockerEnv struct {
	engine *client.Client
	image  string
	ns     string
	cp     *control
}

func newDockerEnv(t *testing.T) *dockerEnv {
	t.Helper()
	engine := dockertest.Client(t)
	e := &dockerEnv{engine: engine, image: dockertest.Image(t, engine), ns: dockertest.Namespace()}
	t.Cleanup(func() { dockertest.RemoveContainers(t, engine, e.ns) })
	e.cp = startControl(t, redistest.New(t).URL(), "cp-1", "--namespace", e.ns)
	return e
}

func (e *dockerEnv) service(name string) *edgeplanev1.Service {
	return &edgeplanev1.Service{Name: name, Image: e.image, ContainerPort: 8080, Env: map[string]string{"NAME": name}, User: "65534:65534"}
}

// expectServes checks that the route hello.test reaches the service through the agent.
func (e *dockerEnv) expectServes(t *testing.T, ag *agent, _ *edgeplanev1.Service, path, want string) {
	t.Helper()
	ag.expectServes("hello.test", path, http.StatusOK, want)
}

// A service created through the API runs on a leased port; a route naming it is served
// by the agent; stopping it withdraws it (the agent answers 5xx) with an event; deleting
// it removes the container and releases the port.
func TestDockerService_RoutedStoppedDeleted(t *testing.T) {
	e := newDockerEnv(t)
	ag := startAgent(t, e.cp.Addr, "edge-1", t.TempDir())
	eventually(t, 10*time.Second, func() error { return connected(t, e.cp, 1) })
	ctx := t.Context()

	res, err := e.cp.Docker().CreateService(ctx, &edgeplanev1.CreateServiceRequest{Service: e.service("hello"), WaitForAgents: wait5s})
	if err != nil {
		t.Fatal(err)
	}
	svc := res.GetService()
	if svc.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_RUNNING || res.GetPropagation().GetAcked() != 1 {
		t.Fatalf("created: got %v, propagation %v; want RUNNING, acked by the agent", svc, res.GetPropagation())
	}
	create(t, e.cp, &edgeplanev1.Route{Name: "hello", Hosts: []string{"hello.test"}, Service: "hello"})
	e.expectServes(t, ag, svc, "/x", "hello /x")

	if _, err := e.cp.Docker().StopService(ctx, &edgeplanev1.StopServiceRequest{Name: "hello", WaitForAgents: wait5s}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		code, body, err := ag.Get("hello.test", "/x")
		if err != nil || (code != http.StatusServiceUnavailable && code != http.StatusBadGateway) {
			return fmt.Errorf("stopped service via the agent: got %d %q %v, want 503 or 502", code, body, err)
		}
		return nil
	})
	if len(e.cp.Logs("service_stopped")) != 1 {
		t.Errorf("want one service_stopped event in the control plane's log")
	}

	if _, err := e.cp.Docker().StartService(ctx, &edgeplanev1.StartServiceRequest{Name: "hello", WaitForAgents: wait5s}); err != nil {
		t.Fatal(err)
	}
	e.expectServes(t, ag, svc, "/y", "hello /y")

	if _, err := e.cp.Docker().DeleteService(ctx, &edgeplanev1.DeleteServiceRequest{Name: "hello", WaitForAgents: wait5s}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.ContainerInspect(ctx, svc.GetContainerId(), client.ContainerInspectOptions{}); err == nil {
		t.Error("the container still exists after DeleteService")
	}
	list, err := e.cp.Ports().ListPorts(ctx, &edgeplanev1.ListPortsRequest{})
	if err != nil || len(list.GetPorts()) != 0 {
		t.Errorf("port leases after DeleteService: got %v %v, want none", list.GetPorts(), err)
	}
	_, err = e.cp.Docker().GetService(ctx, &edgeplanev1.GetServiceRequest{Name: "hello"})
	if status.Code(err) != codes.NotFound {
		t.Errorf("GetService after delete: got %v, want NotFound", err)
	}
	if len(e.cp.Logs("service_deleted")) != 1 || len(e.cp.Logs("port_released")) != 1 {
		t.Errorf("want service_deleted and port_released events in the control plane's log")
	}
	if len(e.cp.Logs("service_died")) != 0 {
		t.Errorf("a requested stop was reported as service_died")
	}
}

func TestDockerService_KilledOutsideIsReportedDied(t *testing.T) {
	e := newDockerEnv(t)
	ctx := t.Context()
	res, err := e.cp.Docker().CreateService(ctx, &edgeplanev1.CreateServiceRequest{Service: e.service("victim")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.ContainerKill(ctx, res.GetService().GetContainerId(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		died := e.cp.Logs("service_died")
		if len(died) != 1 || died[0]["service"] != "victim" || died[0]["event_type"] != "service_died" {
			return fmt.Errorf("service_died log records: got %v, want one for victim", died)
		}
		return nil
	})
	got, err := e.cp.Docker().GetService(ctx, &edgeplanev1.GetServiceRequest{Name: "victim"})
	if err != nil || got.GetService().GetState() != edgeplanev1.ServiceState_SERVICE_STATE_STOPPED || got.GetService().GetExitCode() != 137 {
		t.Errorf("after the kill: got %v %v, want STOPPED with exit code 137", got.GetService(), err)
	}
}

// Every bad input is InvalidArgument naming its field; Docker's own refusals have their
// codes; and nothing is left behind.
func TestDockerService_BadInputs(t *testing.T) {
	e := newDockerEnv(t)
	ctx := t.Context()
	tests := []struct {
		name  string
		edit  func(*edgeplanev1.Service)
		code  codes.Code
		field string
	}{
		{"malformed image", func(s *edgeplanev1.Service) { s.Image = "UPPER/case:tag:x" }, codes.InvalidArgument, "service.image"},
		{"invalid env key", func(s *edgeplanev1.Service) { s.Env = map[string]string{"NOT-VALID": "1"} }, codes.InvalidArgument, `service.env["NOT-VALID"]`},
		{"memory out of range", func(s *edgeplanev1.Service) { s.MemoryLimit = 1 << 41 }, codes.InvalidArgument, "service.memory_limit"},
		{"cpu out of range", func(s *edgeplanev1.Service) { s.CpuLimit = -1 }, codes.InvalidArgument, "service.cpu_limit"},
		{"preferred port outside the range", func(s *edgeplanev1.Service) { s.HostPort = 1000 }, codes.InvalidArgument, "service.host_port"},
		{"unknown image", func(s *edgeplanev1.Service) { s.Image = "edgeplane-test-missing:0" }, codes.FailedPrecondition, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := e.service("bad")
			tt.edit(in)
			_, err := e.cp.Docker().CreateService(ctx, &edgeplanev1.CreateServiceRequest{Service: in})
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("got %v, want %v", err, tt.code)
			}
			if tt.field != "" && !slices.Contains(violations(st), tt.field) {
				t.Errorf("field violations %v: want %s", violations(st), tt.field)
			}
			if tt.code == codes.FailedPrecondition && !strings.Contains(st.Message(), in.Image) {
				t.Errorf("message %q does not name the image %s", st.Message(), in.Image)
			}
		})
	}
	if _, err := e.cp.Docker().CreateService(ctx, &edgeplanev1.CreateServiceRequest{Service: e.service("dup")}); err != nil {
		t.Fatal(err)
	}
	_, err := e.cp.Docker().CreateService(ctx, &edgeplanev1.CreateServiceRequest{Service: e.service("dup")})
	if status.Code(err) != codes.AlreadyExists {
		t.Errorf("duplicate name: got %v, want AlreadyExists", err)
	}
	list, err := e.cp.Docker().ListServices(ctx, &edgeplanev1.ListServicesRequest{})
	if err != nil || len(list.GetServices()) != 1 {
		t.Errorf("services: got %v %v, want only dup", list.GetServices(), err)
	}
	ports, err := e.cp.Ports().ListPorts(ctx, &edgeplanev1.ListPortsRequest{})
	if err != nil || len(ports.GetPorts()) != 1 || ports.GetPorts()[0].GetOwner() != "service/dup" {
		t.Errorf("port leases: got %v %v, want only service/dup's", ports.GetPorts(), err)
	}
}

// Without an engine, DockerService answers Unavailable (and PortService still works).
func TestDockerService_EngineUnreachableIsUnavailable(t *testing.T) {
	cp := startControl(t, redistest.New(t).URL(), "cp-1", "--docker-host", "unix:///nonexistent/docker.sock")
	_, err := cp.Docker().CreateService(t.Context(), &edgeplanev1.CreateServiceRequest{
		Service: &edgeplanev1.Service{Name: "x", Image: "busybox:1", ContainerPort: 80}})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("CreateService without an engine: got %v, want Unavailable", err)
	}
	if _, err := cp.Ports().AllocatePort(t.Context(), &edgeplanev1.AllocatePortRequest{Purpose: "tcp", Owner: "x"}); err != nil {
		t.Errorf("AllocatePort without an engine: %v", err)
	}
}

func violations(st *status.Status) []string {
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
		}
	}
	return fields
}
