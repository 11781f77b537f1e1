package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// rig is everything the soak runs: two Redis servers, the control plane, an agent and a
// backend.
type rig struct {
	state, tel *harness.Redis
	cp         *harness.Control
	agent      *exec.Cmd
	agentAddr  string
	backend    *http.Server
}

// start brings the rig up and waits until the agent serves both routes.
func start(ctx context.Context, o options) (*rig, error) {
	r := &rig{}
	ok := false
	defer func() {
		if !ok {
			r.stop()
		}
	}()
	ctlBin, err := harness.ControlBinary(o.controlBin)
	if err != nil {
		return nil, err
	}
	agentBin, err := harness.AgentBinary(o.agentBin)
	if err != nil {
		return nil, err
	}
	if r.state, err = harness.StartRedis(ctx); err != nil {
		return nil, err
	}
	if r.tel, err = harness.StartRedis(ctx); err != nil {
		return nil, err
	}
	r.cp, err = harness.StartControl(ctx, harness.ControlOptions{Bin: ctlBin, RedisURL: r.state.URL(), Replica: "soak",
		Args: []string{"--telemetry-redis-url", r.tel.URL(), "--agent-redis-url", r.tel.URL(),
			"--telemetry-retention", o.retention.String(), "--telemetry-max-records", strconv.FormatInt(o.maxRecords, 10)}})
	if err != nil {
		return nil, err
	}
	backendURL, err := r.startBackend()
	if err != nil {
		return nil, err
	}
	if err := r.startAgent(agentBin); err != nil {
		return nil, err
	}
	routes := edgeplanev1.NewRoutingServiceClient(r.cp.Conn)
	for name, host := range map[string]string{"load": loadHost, "probe": probeHost} {
		rt := &edgeplanev1.Route{Name: name, Hosts: []string{host}, Targets: []*edgeplanev1.Target{{Url: backendURL}}}
		if _, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: rt, WaitForAgents: durationpb.New(10 * time.Second)}); err != nil {
			return nil, fmt.Errorf("creating route %s: %w", host, err)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, err := get(http.DefaultClient, r.agentAddr, loadHost)
		if err == nil && code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("the agent does not serve %s: %d %v", loadHost, code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ok = true
	return r, nil
}

// The load goes to loadHost; the metrics probes to probeHost.
const (
	loadHost  = "load.test"
	probeHost = "probe.test"
)

func (r *rig) startBackend() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	r.backend = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("hello world\n"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = r.backend.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}

func (r *rig) startAgent(bin string) error {
	port, err := harness.FreePort()
	if err != nil {
		return err
	}
	r.agentAddr = "127.0.0.1:" + strconv.Itoa(port)
	dir, err := os.MkdirTemp("", "edgeplane-soak-agent-")
	if err != nil {
		return err
	}
	mport, err := harness.FreePort()
	if err != nil {
		return err
	}
	r.agent = exec.Command(bin, "--control-plane", r.cp.Addr, "--node-id", "soak-1", "--http-addr", r.agentAddr,
		"--https-addr", "-", "--metrics-addr", "127.0.0.1:"+strconv.Itoa(mport), "--cache-dir", dir, "--log-level", "warn")
	r.agent.Stderr = os.Stderr
	r.agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := r.agent.Start(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "# agent pid=%d http=%s\n", r.agent.Process.Pid, r.agentAddr)
	return nil
}

// stop ends what start started, each process by its own pid.
func (r *rig) stop() {
	if r.agent != nil && r.agent.Process != nil {
		_ = r.agent.Process.Signal(syscall.SIGTERM)
		_ = r.agent.Wait()
	}
	if r.backend != nil {
		_ = r.backend.Close()
	}
	r.cp.Stop()
	r.tel.Stop()
	r.state.Stop()
}
