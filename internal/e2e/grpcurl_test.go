package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeplane/edgeplane/internal/redistest"
)

// grpcurlPath finds the real grpcurl binary (installed by make deps). It fails rather than
// skips: the README's examples depend on it.
func grpcurlPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("grpcurl"); err == nil {
		return p
	}
	gopath, _ := exec.Command("go", "env", "GOPATH").Output()
	p := filepath.Join(strings.TrimSpace(string(gopath)), "bin", "grpcurl")
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("grpcurl is not installed (run make deps): %v", err)
	}
	return p
}

func TestGrpcurl_ListDescribeCreate(t *testing.T) {
	bin := grpcurlPath(t)
	rds := redistest.New(t)
	cp := startControl(t, rds.URL(), "cp-1")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(bin, append([]string{"-plaintext"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("grpcurl %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	list := run(cp.Addr, "list")
	for _, svc := range []string{"edgeplane.v1.RoutingService", "edgeplane.v1.FleetService", "edgeplane.v1.AgentService", "grpc.health.v1.Health"} {
		if !strings.Contains(list, svc) {
			t.Errorf("grpcurl list: %q lacks %s", list, svc)
		}
	}
	desc := run(cp.Addr, "describe", "edgeplane.v1.RoutingService")
	for _, rpc := range []string{"CreateRoute", "GetRoute", "ListRoutes", "UpdateRoute", "DeleteRoute"} {
		if !strings.Contains(desc, "rpc "+rpc) {
			t.Errorf("grpcurl describe: lacks rpc %s:\n%s", rpc, desc)
		}
	}
	out := run("-d", `{"route":{"name":"hello","hosts":["hello.localhost"],"targets":[{"url":"http://127.0.0.1:9000"}]}}`,
		cp.Addr, "edgeplane.v1.RoutingService/CreateRoute")
	if !strings.Contains(out, `"etag": "1"`) || !strings.Contains(out, `"name": "hello"`) {
		t.Errorf("grpcurl CreateRoute: got %s, want the created route at etag 1", out)
	}
	upd := run("-d", `{"route":{"name":"hello","priority":20,"etag":"1"},"updateMask":{"paths":["priority"]}}`,
		cp.Addr, "edgeplane.v1.RoutingService/UpdateRoute")
	if !strings.Contains(upd, `"priority": 20`) || !strings.Contains(upd, `"etag": "2"`) {
		t.Errorf("grpcurl UpdateRoute with a mask: got %s, want priority 20 at etag 2", upd)
	}
	got := run("-d", `{"name":"hello"}`, cp.Addr, "edgeplane.v1.RoutingService/GetRoute")
	if !strings.Contains(got, "hello.localhost") {
		t.Errorf("grpcurl GetRoute: got %s", got)
	}
}
