// Command service measures how long a Docker service takes from CreateService to the first
// 200 answered through an agent, on the real control plane, a real agent process, a real
// Docker engine and redis-server.
//
// A route naming the service exists beforehand (it answers 503 until the service runs);
// each run calls CreateService (without wait_for_agents) and then polls the agent every
// 2 ms until the service answers 200, then deletes the service (-via endpoint polls the
// service's published port instead, for agents that do not route to services yet):
//
//	bench=service runs=20 create_p50_ms=... create_p99_ms=... first_200_p50_ms=... first_200_p99_ms=... max_ms=...
//
// The test image (a static Go HTTP server, FROM scratch) is built locally and removed at exit.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/moby/moby/client"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/dockertest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "edgeplane-control binary (default: build ./controlplane)")
	agentBin := flag.String("agent-bin", "", "edgeplane-agent binary (default: build ./agent)")
	runs := flag.Int("runs", 20, "services created, one after the other")
	via := flag.String("via", "agent", "where to poll for the first 200: agent (through the proxy) or endpoint (the service's published port, for agents that do not route to services yet)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	dir, err := os.MkdirTemp("", "edgeplane-bench-service-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	engine, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	defer engine.Close()
	image, err := dockertest.Build(ctx, engine, dir)
	if err != nil {
		return err
	}
	defer dockertest.Remove(context.Background(), engine, image)
	ns := dockertest.Namespace()
	defer removeContainers(engine, ns)

	cb, err := harness.ControlBinary(*bin)
	if err != nil {
		return err
	}
	ab, err := harness.AgentBinary(*agentBin)
	if err != nil {
		return err
	}
	rds, err := harness.StartRedis(ctx)
	if err != nil {
		return err
	}
	defer rds.Stop()
	cp, err := harness.StartControl(ctx, harness.ControlOptions{Bin: cb, RedisURL: rds.URL(), Env: []string{"EDGEPLANE_NAMESPACE=" + ns}})
	if err != nil {
		return err
	}
	defer cp.Stop()
	proxyAddr, stopAgent, err := startAgent(ab, cp.Addr, dir)
	if err != nil {
		return err
	}
	defer stopAgent()

	svcs := edgeplanev1.NewDockerServiceClient(cp.Conn)
	routes := edgeplanev1.NewRoutingServiceClient(cp.Conn)
	var create, first harness.Durations
	for i := range *runs {
		name := fmt.Sprintf("svc-%d", i)
		host := name + ".bench"
		if _, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{
			Route: &edgeplanev1.Route{Name: name, Hosts: []string{host}, Service: name}}); err != nil {
			return err
		}
		start := time.Now()
		res, err := svcs.CreateService(ctx, &edgeplanev1.CreateServiceRequest{Service: &edgeplanev1.Service{
			Name: name, Image: image, ContainerPort: 8080, Env: map[string]string{"NAME": name}, User: "65534:65534"}})
		if err != nil {
			return fmt.Errorf("CreateService %s: %w", name, err)
		}
		create = append(create, time.Since(start))
		target := proxyAddr
		if *via == "endpoint" {
			target = strings.TrimPrefix(res.GetService().GetEndpoint(), "http://")
		}
		if err := waitOK(ctx, target, host, 30*time.Second); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		first = append(first, time.Since(start))
		if _, err := svcs.DeleteService(ctx, &edgeplanev1.DeleteServiceRequest{Name: name}); err != nil {
			return err
		}
	}
	fmt.Printf("bench=service via=%s runs=%d create_p50_ms=%s create_p99_ms=%s first_200_p50_ms=%s first_200_p99_ms=%s max_ms=%s\n",
		*via, *runs, harness.Ms(create.Quantile(0.5)), harness.Ms(create.Quantile(0.99)),
		harness.Ms(first.Quantile(0.5)), harness.Ms(first.Quantile(0.99)), harness.Ms(first.Max()))
	return nil
}

// waitOK polls GET http://addr/ with Host: host until it answers 200.
func waitOK(ctx context.Context, addr, host string, timeout time.Duration) error {
	return harness.WaitOK(ctx, &http.Client{Timeout: time.Second}, addr, host, 2*time.Millisecond, timeout)
}

// startAgent runs the agent on a free port and returns its proxy address.
func startAgent(bin, cpAddr, dir string) (string, func(), error) {
	port, err := harness.FreePort()
	if err != nil {
		return "", nil, err
	}
	mport, err := harness.FreePort()
	if err != nil {
		return "", nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cmd := exec.Command(bin, "--control-plane", cpAddr, "--node-id", "bench-agent", "--http-addr", addr,
		"--metrics-addr", fmt.Sprintf("127.0.0.1:%d", mport), "--cache-dir", filepath.Join(dir, "cache"), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	return addr, stop, nil
}

func removeContainers(c *client.Client, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	list, err := c.ContainerList(ctx, client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", "io.edgeplane.namespace="+ns)})
	if err != nil {
		return
	}
	for _, ct := range list.Items {
		_, _ = c.ContainerRemove(ctx, ct.ID, client.ContainerRemoveOptions{Force: true})
	}
}
