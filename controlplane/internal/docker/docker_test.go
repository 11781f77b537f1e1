package docker_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/controlplane/internal/docker"
	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/ports"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/dockertest"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/waitfor"
)

// env is one control plane's view: a Manager on a real engine and a real redis-server.
type env struct {
	m      *docker.Manager
	store  *store.Store
	ports  *ports.Allocator
	engine *client.Client
	image  string
	ns     string
	events *recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, docker.Policy{})
}

func newEnvWith(t *testing.T, policy docker.Policy) *env {
	t.Helper()
	return newEnvFor(t, func(string) docker.Policy { return policy })
}

// newEnvFor makes an env whose policy may name its test image.
func newEnvFor(t *testing.T, policyFor func(image string) docker.Policy) *env {
	t.Helper()
	engine := dockertest.Client(t)
	image := dockertest.Image(t, engine)
	policy := policyFor(image)
	ns := dockertest.Namespace()
	t.Cleanup(func() { dockertest.RemoveContainers(t, engine, ns) })
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := store.New(store.Config{Client: rdb, Namespace: ns})
	// A service range of its own, below Linux's ephemeral ports (32768+): the end-to-end tests
	// run containers at the same time (go test runs packages in parallel) from the default
	// range with another Redis, so sharing it could hand both the same host port.
	alloc := ports.New(ports.Config{Store: st, Ranges: map[string]ports.Range{"service": {Lo: 12000, Hi: 14999}},
		Reserved: []ports.Range{{Lo: 12080, Hi: 12080}}})
	rec := &recorder{}
	m := docker.New(docker.Config{Engine: engine, Store: st, Ports: alloc, Namespace: ns,
		Fresh: func() bool { return true }, Events: rec.record, SettleTime: time.Nanosecond, Policy: policy})
	return &env{m: m, store: st, ports: alloc, engine: engine, image: image, ns: ns, events: rec}
}

func (e *env) service(name string) *edgeplanev1.Service {
	return &edgeplanev1.Service{Name: name, Image: e.image, ContainerPort: 8080, Env: map[string]string{"NAME": name}, User: "65534:65534"}
}

func (e *env) create(t *testing.T, svc *edgeplanev1.Service) *edgeplanev1.Service {
	t.Helper()
	got, _, err := e.m.Create(t.Context(), svc)
	if err != nil {
		t.Fatalf("creating %s: %v", svc.GetName(), err)
	}
	return got
}

// endpoints returns the targets agents are given for name (nil if none are published).
func (e *env) endpoints(t *testing.T, name string) []string {
	t.Helper()
	it, err := e.store.Get(t.Context(), store.KindService, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, tg := range it.Value.(*edgeplanev1.ServiceEndpoints).GetTargets() {
		out = append(out, tg.GetUrl())
	}
	return out
}

// recorder keeps the events a Manager emitted.
type recorder struct {
	mu     sync.Mutex // guards events
	events []string   // "type service"
}

func (r *recorder) record(_ context.Context, e event.Event) {
	typ, svc := e.Type(), ""
	for _, a := range event.Attrs(e) {
		if a.Key == "service" {
			svc = a.Value.String()
		}
	}
	r.mu.Lock()
	r.events = append(r.events, typ+" "+svc)
	r.mu.Unlock()
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

func (r *recorder) has(ev string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.events, ev)
}

func get(url string) (int, string, error) {
	res, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

var eventually = waitfor.Eventually

func TestService_Lifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	in := e.service("web")
	in.MemoryLimit, in.CpuLimit, in.ReadOnlyRoot, in.User = 64<<20, 0.5, true, "65534:65534"
	in.Labels = map[string]string{"team": "edge"}
	in.RestartPolicy = edgeplanev1.RestartPolicy_RESTART_POLICY_ON_FAILURE
	in.MaxRestarts = 3
	svc := e.create(t, in)
	if svc.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_RUNNING || svc.GetHostPort() < 12000 || svc.GetHostPort() > 14999 ||
		svc.GetEtag() == "" || svc.GetContainerId() == "" {
		t.Fatalf("created: got %v, want RUNNING on a service-range port with an etag and a container", svc)
	}
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", svc.GetHostPort())
	if svc.GetEndpoint() != endpoint || !slices.Equal(e.endpoints(t, "web"), []string{endpoint}) {
		t.Errorf("endpoint: got %q, published %v, want %s", svc.GetEndpoint(), e.endpoints(t, "web"), endpoint)
	}
	eventually(t, 10*time.Second, func() error {
		code, body, err := get(endpoint + "/hello")
		if err != nil || code != 200 || body != "web /hello" {
			return fmt.Errorf("GET %s/hello: got %d %q %v, want 200 \"web /hello\"", endpoint, code, body, err)
		}
		return nil
	})

	c, err := e.engine.ContainerInspect(ctx, svc.GetContainerId(), client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hc, labels := c.Container.HostConfig, c.Container.Config.Labels
	if hc.Memory != 64<<20 || hc.NanoCPUs != 5e8 || !hc.ReadonlyRootfs || c.Container.Config.User != "65534:65534" ||
		hc.RestartPolicy.Name != "on-failure" || hc.RestartPolicy.MaximumRetryCount != 3 {
		t.Errorf("container config: got memory %d, cpus %d, read-only %v, user %q, restart %v", hc.Memory, hc.NanoCPUs,
			hc.ReadonlyRootfs, c.Container.Config.User, hc.RestartPolicy)
	}
	if labels["io.edgeplane.managed"] != "true" || labels["io.edgeplane.service"] != "web" ||
		labels["io.edgeplane.namespace"] != e.ns || labels["team"] != "edge" {
		t.Errorf("labels: got %v", labels)
	}

	var lines []docker.LogLine
	err = e.m.Logs(ctx, "web", docker.LogOptions{}, func(l docker.LogLine) error { lines = append(lines, l); return nil })
	if err != nil {
		t.Fatal(err)
	}
	var sawStdout, sawStderr bool
	for _, l := range lines {
		sawStdout = sawStdout || (!l.Stderr && strings.HasPrefix(l.Text, "listening on 8080") && !l.Time.IsZero())
		sawStderr = sawStderr || (l.Stderr && l.Text == "starting web")
	}
	if !sawStdout || !sawStderr {
		t.Errorf("logs: got %+v, want the stdout and stderr start lines", lines)
	}

	stoppedSvc, _, err := e.m.Stop(ctx, "web", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if stoppedSvc.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_STOPPED || len(e.endpoints(t, "web")) != 0 {
		t.Errorf("stopped: got state %v, endpoints %v, want STOPPED and none", stoppedSvc.GetState(), e.endpoints(t, "web"))
	}
	started, _, err := e.m.Start(ctx, "web")
	if err != nil || started.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_RUNNING || started.GetHostPort() != svc.GetHostPort() {
		t.Fatalf("started: got %v, %v; want RUNNING on port %d", started, err, svc.GetHostPort())
	}

	if _, err := e.m.Delete(ctx, "web", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.ContainerInspect(ctx, svc.GetContainerId(), client.ContainerInspectOptions{}); err == nil {
		t.Error("container still exists after delete")
	}
	if leases, _, _ := e.ports.List(ctx, ports.Filter{}, 0, ""); len(leases) != 0 {
		t.Errorf("port leases after delete: got %v, want none", leases)
	}
	if got := e.endpoints(t, "web"); got != nil {
		t.Errorf("endpoints after delete: got %v, want none", got)
	}
	if _, err := e.m.Get(ctx, "web"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("get after delete: got %v, want ErrNotFound", err)
	}
	for _, ev := range []string{"service_created web", "service_started web", "service_stopped web", "service_deleted web"} {
		if !e.events.has(ev) {
			t.Errorf("events %v: missing %q", e.events.list(), ev)
		}
	}
	if e.events.has("service_died web") {
		t.Errorf("events %v: a requested stop was reported as service_died", e.events.list())
	}
}

// Each bad input is rejected naming its field, and leaves no definition, container, port
// lease or endpoint behind.
func TestCreate_BadInputsLeaveNothing(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	tests := []struct {
		name  string
		edit  func(*edgeplanev1.Service)
		field string
	}{
		{"malformed image", func(s *edgeplanev1.Service) { s.Image = "Not A/Reference::x" }, "service.image"},
		{"env key with a dash", func(s *edgeplanev1.Service) { s.Env["BAD-KEY"] = "x" }, `service.env["BAD-KEY"]`},
		{"env key starting with a digit", func(s *edgeplanev1.Service) { s.Env["1X"] = "x" }, `service.env["1X"]`},
		{"memory too small", func(s *edgeplanev1.Service) { s.MemoryLimit = 1024 }, "service.memory_limit"},
		{"memory negative", func(s *edgeplanev1.Service) { s.MemoryLimit = -1 }, "service.memory_limit"},
		{"cpu beyond the engine", func(s *edgeplanev1.Service) { s.CpuLimit = 4096 }, "service.cpu_limit"},
		{"cpu too small", func(s *edgeplanev1.Service) { s.CpuLimit = 0.001 }, "service.cpu_limit"},
		{"host port outside the range", func(s *edgeplanev1.Service) { s.HostPort = 8080 }, "service.host_port"},
		{"host port reserved", func(s *edgeplanev1.Service) { s.HostPort = 12080 }, "service.host_port"},
		{"container port", func(s *edgeplanev1.Service) { s.ContainerPort = 0 }, "service.container_port"},
		{"reserved label", func(s *edgeplanev1.Service) { s.Labels = map[string]string{"io.edgeplane.service": "x"} }, `service.labels["io.edgeplane.service"]`},
		{"healthcheck without a command", func(s *edgeplanev1.Service) { s.Health = &edgeplanev1.ServiceHealth{} }, "service.health.command"},
		{"max restarts without on-failure", func(s *edgeplanev1.Service) { s.MaxRestarts = 2 }, "service.max_restarts"},
		{"bad user", func(s *edgeplanev1.Service) { s.User = "root; rm" }, "service.user"},
		{"bad name", func(s *edgeplanev1.Service) { s.Name = "Web" }, "service.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := e.service("bad")
			tt.edit(in)
			_, _, err := e.m.Create(ctx, in)
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			var fields []string
			for _, v := range verr.Violations {
				fields = append(fields, v.Field)
			}
			if !slices.Equal(fields, []string{tt.field}) {
				t.Errorf("got violations of %v, want [%s]", fields, tt.field)
			}
			e.expectNothing(t)
			if e.events.has("service_failed bad") {
				t.Errorf("events %v: a refused request was reported as service_failed", e.events.list())
			}
		})
	}

	t.Run("unknown image", func(t *testing.T) {
		in := e.service("bad")
		in.Image = "edgeplane-test-no-such-image:1"
		_, _, err := e.m.Create(ctx, in)
		if !errors.Is(err, model.ErrFailedPrecondition) || !strings.Contains(err.Error(), in.Image) {
			t.Errorf("got %v, want ErrFailedPrecondition naming the image", err)
		}
		e.expectNothing(t)
	})
	t.Run("container name taken outside edgeplane", func(t *testing.T) {
		_, err := e.engine.ContainerCreate(ctx, client.ContainerCreateOptions{Name: e.ns + "-bad", Image: e.image})
		if err != nil {
			t.Fatal(err)
		}
		defer e.engine.ContainerRemove(context.Background(), e.ns+"-bad", client.ContainerRemoveOptions{Force: true})
		_, _, err = e.m.Create(ctx, e.service("bad"))
		if !errors.Is(err, model.ErrAlreadyExists) || !strings.Contains(err.Error(), e.ns+"-bad") {
			t.Errorf("got %v, want ErrAlreadyExists naming the container", err)
		}
		if !e.events.has("service_failed bad") {
			t.Errorf("events %v: a create the engine refused was not reported as service_failed", e.events.list())
		}
		if list, _, _ := e.m.List(ctx, 0, ""); len(list) != 0 {
			t.Errorf("services: got %v, want none", list)
		}
		if leases, _, _ := e.ports.List(ctx, ports.Filter{}, 0, ""); len(leases) != 0 {
			t.Errorf("port leases: got %v, want none", leases)
		}
	})
	t.Run("name taken", func(t *testing.T) {
		first := e.create(t, e.service("dup"))
		_, _, err := e.m.Create(ctx, e.service("dup"))
		if !errors.Is(err, model.ErrAlreadyExists) {
			t.Errorf("got %v, want ErrAlreadyExists", err)
		}
		got, err := e.m.Get(ctx, "dup")
		if err != nil || got.GetHostPort() != first.GetHostPort() || got.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_RUNNING {
			t.Errorf("the existing service after a duplicate create: got %v %v, want it untouched", got, err)
		}
	})
}

// expectNothing checks that no service, container, port lease or endpoint exists.
func (e *env) expectNothing(t *testing.T) {
	t.Helper()
	ctx := t.Context()
	if list, _, err := e.m.List(ctx, 0, ""); err != nil || len(list) != 0 {
		t.Errorf("services: got %v %v, want none", list, err)
	}
	if leases, _, err := e.ports.List(ctx, ports.Filter{}, 0, ""); err != nil || len(leases) != 0 {
		t.Errorf("port leases: got %v %v, want none", leases, err)
	}
	list, err := e.engine.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", "io.edgeplane.namespace="+e.ns)})
	if err != nil || len(list.Items) != 0 {
		t.Errorf("containers: got %d %v, want none", len(list.Items), err)
	}
	if got := e.endpoints(t, "bad"); got != nil {
		t.Errorf("endpoints: got %v, want none", got)
	}
}

func TestEvents_ContainerKilledOutsideIsReportedDied(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	svc := e.create(t, e.service("victim"))
	// A requested restart is not a death.
	if _, _, err := e.m.Restart(t.Context(), "victim", time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.ContainerKill(t.Context(), svc.GetContainerId(), client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if !e.events.has("service_died victim") {
			return fmt.Errorf("events %v: no service_died", e.events.list())
		}
		return nil
	})
	eventually(t, 5*time.Second, func() error {
		if got := e.endpoints(t, "victim"); len(got) != 0 {
			return fmt.Errorf("endpoints of a dead service: got %v, want none", got)
		}
		return nil
	})
	n := 0
	for _, ev := range e.events.list() {
		if ev == "service_died victim" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("events %v: got %d service_died, want 1 (the restart is not one)", e.events.list(), n)
	}
	// Started again from outside: the endpoint comes back.
	if _, err := e.engine.ContainerStart(t.Context(), svc.GetContainerId(), client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() error {
		if got := e.endpoints(t, "victim"); len(got) != 1 {
			return fmt.Errorf("endpoints after a start: got %v, want one", got)
		}
		return nil
	})
}

func TestReconcile_ReportsUnknownAndMissingContainers(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	svc := e.create(t, e.service("gone"))
	if _, err := e.engine.ContainerRemove(ctx, svc.GetContainerId(), client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	_, err := e.engine.ContainerCreate(ctx, client.ContainerCreateOptions{Name: e.ns + "-stranger", Config: &container.Config{
		Image: e.image, Labels: map[string]string{"io.edgeplane.managed": "true", "io.edgeplane.namespace": e.ns, "io.edgeplane.service": "stranger"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"service_missing gone", "service_unknown_container stranger"} {
		if !e.events.has(ev) {
			t.Errorf("events %v: missing %q", e.events.list(), ev)
		}
	}
	got, err := e.m.Get(ctx, "gone")
	if err != nil || got.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_MISSING || len(e.endpoints(t, "gone")) != 0 {
		t.Fatalf("missing service: got %v %v, endpoints %v; want MISSING with none", got, err, e.endpoints(t, "gone"))
	}
	started, _, err := e.m.Start(ctx, "gone")
	if err != nil || started.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_RUNNING || started.GetHostPort() != svc.GetHostPort() ||
		started.GetContainerId() == svc.GetContainerId() {
		t.Fatalf("start of a missing service: got %v %v, want a new container RUNNING on port %d", started, err, svc.GetHostPort())
	}
	if _, err := e.engine.ContainerInspect(ctx, e.ns+"-stranger", client.ContainerInspectOptions{}); err != nil {
		t.Errorf("the unknown container must be left alone: %v", err)
	}
}

func TestUpdate_ReplacesContainer(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	svc := e.create(t, e.service("app"))
	in := &edgeplanev1.Service{Name: "app", Env: map[string]string{"NAME": "v2"}, HostPort: 13234, Etag: svc.GetEtag()}
	up, _, err := e.m.Update(ctx, in, []string{"env", "host_port"})
	if err != nil {
		t.Fatal(err)
	}
	if up.GetHostPort() != 13234 || up.GetContainerId() == svc.GetContainerId() || up.GetState() != edgeplanev1.ServiceState_SERVICE_STATE_RUNNING {
		t.Fatalf("updated: got %v, want RUNNING in a new container on 13234", up)
	}
	eventually(t, 10*time.Second, func() error {
		code, body, err := get("http://127.0.0.1:13234/x")
		if err != nil || code != 200 || body != "v2 /x" {
			return fmt.Errorf("got %d %q %v, want 200 \"v2 /x\"", code, body, err)
		}
		return nil
	})
	leases, _, _ := e.ports.List(ctx, ports.Filter{}, 0, "")
	if len(leases) != 1 || leases[0].Port != 13234 {
		t.Errorf("leases after moving the port: got %v, want only 13234", leases)
	}
	if !slices.Equal(e.endpoints(t, "app"), []string{"http://127.0.0.1:13234"}) {
		t.Errorf("endpoints: got %v", e.endpoints(t, "app"))
	}
	_, _, err = e.m.Update(ctx, &edgeplanev1.Service{Name: "app", User: "x", Etag: svc.GetEtag()}, []string{"user"})
	if !errors.Is(err, model.ErrConflict) {
		t.Errorf("stale etag: got %v, want ErrConflict", err)
	}
	if !proto.Equal(up.GetCreateTime(), svc.GetCreateTime()) {
		t.Errorf("create time changed on update")
	}
}

func TestHealthcheck_StatusAndEvent(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- e.m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	in := e.service("checked")
	in.Health = &edgeplanev1.ServiceHealth{Command: []string{"/server", "-check"},
		Interval: durationpb.New(time.Second), Timeout: durationpb.New(time.Second), Retries: 1}
	e.create(t, in)
	eventually(t, 20*time.Second, func() error {
		got, err := e.m.Get(t.Context(), "checked")
		if err != nil || got.GetHealthStatus() != "healthy" || !e.events.has("service_health checked") {
			return fmt.Errorf("got health %q (%v), events %v; want healthy and a service_health event", got.GetHealthStatus(), err, e.events.list())
		}
		return nil
	})
}
