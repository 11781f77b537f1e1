// Command served measures how long a route change takes to be served by a real agent, with
// the agent holding N routes: a real control plane, a real agent process and a real
// redis-server, all on this machine.
//
// For each N it starts a fresh control plane and agent, preloads N routes with ApplyConfig
// in batches (waiting for the agent each time, so it receives them as deltas), then R times
// moves the route "probe" to a new host with UpdateRoute and polls the agent with that host
// until it answers 200. The time from the UpdateRoute call to the first 200 is the
// change-to-served latency. At the largest N it also reports the agent's resident memory per
// route: (RSS with N routes - RSS before the preload) / N, GC headroom included.
//
//	bench=served routes=10000 rounds=50 p50_ms=... p99_ms=... max_ms=... goal_p50_ms=10 pass=true
//	bench=agentmem routes=100000 rss_mib=... bytes_per_route=...
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

const goalP50 = 10 * time.Millisecond

var (
	agentLogLevel, profile string
	waitAck                bool
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "served:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "edgeplane-control binary (default: build ./controlplane)")
	agentBin := flag.String("agent-bin", "", "edgeplane-agent binary (default: build ./agent)")
	sizes := flag.String("routes", "10,10000,100000", "routes preloaded per run, comma-separated")
	rounds := flag.Int("rounds", 50, "route changes timed per run")
	batch := flag.Int("batch", 1000, "routes per ApplyConfig while preloading (at most 1000)")
	flag.BoolVar(&waitAck, "wait-ack", false, "UpdateRoute waits for the agent's ACK (wait_for_agents): update_rpc_* then times commit to ACK")
	flag.StringVar(&agentLogLevel, "agent-log-level", "warn", "the agent's --log-level (info logs every apply with its duration)")
	flag.StringVar(&profile, "profile", "", "write a CPU profile of the agent during the timed changes of the largest run to this file")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	harness.RaiseNoFile()
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
	be, err := startBackend()
	if err != nil {
		return err
	}
	defer be.Close()

	var ns []int
	for _, s := range strings.Split(*sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -routes entry %q", s)
		}
		ns = append(ns, n)
	}
	for _, n := range ns {
		if err := rds.Flush(ctx); err != nil {
			return err
		}
		if err := runSize(ctx, cb, ab, rds, "http://"+be.Addr().String(), n, *rounds, *batch, n == ns[len(ns)-1]); err != nil {
			return fmt.Errorf("routes=%d: %w", n, err)
		}
	}
	return nil
}

// startBackend serves 200 "ok" on a free loopback port.
func startBackend() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }),
		ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return ln, nil
}

func benchRoute(name, host, target string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{host}, Targets: []*edgeplanev1.Target{{Url: target}}}
}

func runSize(ctx context.Context, cb, ab string, rds *harness.Redis, target string, n, rounds, batch int, mem bool) error {
	cp, err := harness.StartControl(ctx, harness.ControlOptions{Bin: cb, RedisURL: rds.URL(), Replica: "bench-served"})
	if err != nil {
		return err
	}
	defer cp.Stop()
	routes := edgeplanev1.NewRoutingServiceClient(cp.Conn)
	cfg := edgeplanev1.NewConfigServiceClient(cp.Conn)
	if _, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: benchRoute("probe", "probe-0.bench", target)}); err != nil {
		return err
	}
	ag, err := startAgent(ab, cp.Addr)
	if err != nil {
		return err
	}
	defer ag.stop()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	if err := waitOK(ctx, hc, ag.addr, "probe-0.bench", 30*time.Second); err != nil {
		return err
	}
	rss0, err := harness.RSSKiB(ag.cmd.Process.Pid)
	if err != nil {
		return err
	}

	start := time.Now()
	for done := 1; done < n; {
		var rs []*edgeplanev1.Route
		for ; done < n && len(rs) < batch; done++ {
			rs = append(rs, benchRoute(fmt.Sprintf("r%06d", done), fmt.Sprintf("h%06d.bench", done), target))
		}
		res, err := cfg.ApplyConfig(ctx, &edgeplanev1.ApplyConfigRequest{Routes: rs, WaitForAgents: durationpb.New(2 * time.Minute)})
		if err != nil {
			return fmt.Errorf("preloading: %w", err)
		}
		if p := res.GetPropagation(); p.GetAcked() < 1 {
			return fmt.Errorf("preloading: revision %d not acked by the agent: %v", res.GetRevision(), p)
		}
	}
	if n > 1 {
		if err := waitOK(ctx, hc, ag.addr, fmt.Sprintf("h%06d.bench", n-1), time.Minute); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "# routes=%d preloaded in %s\n", n, time.Since(start).Round(time.Millisecond))

	var profiled chan error
	if profile != "" && mem {
		profiled = make(chan error, 1)
		go func() { profiled <- fetchProfile(ctx, ag.metrics, profile) }()
	}
	var lat, commit harness.Durations
	for i := 1; i <= rounds; i++ {
		host := fmt.Sprintf("probe-%d.bench", i)
		t := time.Now()
		req := &edgeplanev1.UpdateRouteRequest{Route: benchRoute("probe", host, target)}
		if waitAck {
			req.WaitForAgents = durationpb.New(30 * time.Second)
		}
		if _, err := routes.UpdateRoute(ctx, req); err != nil {
			return err
		}
		commit = append(commit, time.Since(t))
		if err := waitOK(ctx, hc, ag.addr, host, 30*time.Second); err != nil {
			return err
		}
		lat = append(lat, time.Since(t))
	}
	if profiled != nil {
		if err := <-profiled; err != nil {
			return err
		}
	}
	p50 := lat.Quantile(0.5)
	fmt.Printf("bench=served routes=%d rounds=%d p50_ms=%s p99_ms=%s max_ms=%s update_rpc_p50_ms=%s update_rpc_p99_ms=%s wait_ack=%t goal_p50_ms=%d pass=%t\n",
		n, rounds, harness.Ms(p50), harness.Ms(lat.Quantile(0.99)), harness.Ms(lat.Max()), harness.Ms(commit.Quantile(0.5)),
		harness.Ms(commit.Quantile(0.99)), waitAck,
		goalP50.Milliseconds(), p50 <= goalP50)
	if mem {
		rss, err := harness.RSSKiB(ag.cmd.Process.Pid)
		if err != nil {
			return err
		}
		fmt.Printf("bench=agentmem routes=%d rss_mib=%.1f rss_before_mib=%.1f bytes_per_route=%.0f\n",
			n, float64(rss)/1024, float64(rss0)/1024, float64(rss-rss0)*1024/float64(n))
	}
	return nil
}

// waitOK polls GET http://addr/ with Host: host until it answers 200.
func waitOK(ctx context.Context, hc *http.Client, addr, host string, timeout time.Duration) error {
	return harness.WaitOK(ctx, hc, addr, host, 200*time.Microsecond, timeout)
}

// fetchProfile writes a 5 s CPU profile of the agent (served with --pprof) to path.
func fetchProfile(ctx context.Context, metricsAddr, path string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+metricsAddr+"/debug/pprof/profile?seconds=5", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, res.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

type agent struct {
	metrics string
	addr    string
	cmd     *exec.Cmd
	dir     string
}

// startAgent runs the agent on free ports with a disk cache in a temporary directory.
func startAgent(bin, cpAddr string) (*agent, error) {
	port, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	mport, err := harness.FreePort()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "edgeplane-bench-served-")
	if err != nil {
		return nil, err
	}
	addr, maddr := fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("127.0.0.1:%d", mport)
	args := []string{"--control-plane", cpAddr, "--node-id", "bench-served", "--http-addr", addr,
		"--metrics-addr", maddr, "--cache-dir", filepath.Join(dir, "cache"), "--log-level", agentLogLevel}
	if profile != "" {
		args = append(args, "--pprof")
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &agent{metrics: maddr, addr: addr, cmd: cmd, dir: dir}, nil
}

func (a *agent) stop() {
	_ = a.cmd.Process.Kill()
	_ = a.cmd.Wait()
	os.RemoveAll(a.dir)
}
