package dashboard_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/dockertest"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// The Services page lists a real Docker service with its state and host port, and the
// service's page tails its logs (the test image writes a line to stderr at start).
func TestDashboard_ServicesShowStateAndLogs(t *testing.T) {
	engine := dockertest.Client(t)
	image := dockertest.Image(t, engine)
	ns := dockertest.Namespace()
	t.Cleanup(func() { dockertest.RemoveContainers(t, engine, ns) })
	c := startControl(t, redistest.New(t), false, ns)
	docker := edgeplanev1.NewDockerServiceClient(c.conn)
	res, err := docker.CreateService(c.ctx(t), &edgeplanev1.CreateServiceRequest{Service: &edgeplanev1.Service{
		Name: "hello", Image: image, ContainerPort: 8080, Env: map[string]string{"NAME": "hello"}, User: "65534:65534"}})
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(res.GetService().GetHostPort())
	hc := browserless(t)
	code, body, _ := get(t, hc, c.URL("services"))
	if code != http.StatusOK || !strings.Contains(body, `id="service-hello"`) || !strings.Contains(body, "RUNNING") || !strings.Contains(body, "<td>"+port+"</td>") {
		t.Errorf("services page: got %d %q, want 200 listing hello RUNNING on port %s", code, body, port)
	}
	eventually(t, 15*time.Second, func() error {
		code, body, _ := get(t, hc, c.URL("services/hello"))
		if code != http.StatusOK || !strings.Contains(body, `class="stderr"`) {
			return fmt.Errorf("service page: got %d %q, want 200 with a stderr log line", code, body)
		}
		return nil
	})
}
