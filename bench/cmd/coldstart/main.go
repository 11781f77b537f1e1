// Command coldstart measures how long a cold agent (empty cache) takes from its process start
// to serving every route of a large config, which reaches it as one snapshot (in chunks, when
// it is over the gRPC message limit).
//
// It starts the real control plane on a private redis-server, stores R routes through
// ConfigService.ApplyConfig (in requests under the 4 MiB limit), then, -runs times, starts
// the real agent binary with an empty cache directory and polls it (every 2 ms) with the Host
// of the last route until it answers 200 from a local backend. It prints, per R, the medians:
//
//	bench=coldstart routes=100000 runs=3 snapshot_bytes=... ms=... apply_ms=... goal_ms=2000 pass=true
//
// ms is agent start to serving; apply_ms is the agent's own Apply of the snapshot (its
// "config applied" log line, which includes writing the disk cache and may end after the new
// table already serves); other_ms is ms minus apply_ms per run: process start, connect,
// transfer, decoding and joining the chunks (negative when the cache write outlasts serving).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

const goal = 2 * time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "coldstart:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "edgeplane-control binary (default: build ./controlplane)")
	agentBin := flag.String("agent-bin", "", "edgeplane-agent binary (default: build ./agent)")
	routesFlag := flag.String("routes", "100000", "config sizes in routes, comma-separated")
	runs := flag.Int("runs", 3, "cold starts per size; medians are printed")
	timeout := flag.Duration("timeout", time.Minute, "give up on one cold start after this long")
	flag.Parse()
	var sizes []int
	for _, s := range strings.Split(*routesFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -routes entry %q", s)
		}
		sizes = append(sizes, n)
	}
	ctx, cpBin, rds, done, err := harness.Setup(*bin)
	if err != nil {
		return err
	}
	defer done()
	ab, err := harness.AgentBinary(*agentBin)
	if err != nil {
		return err
	}
	be, err := backend()
	if err != nil {
		return err
	}
	for _, n := range sizes {
		if err := size(ctx, cpBin, ab, rds, be, n, *runs, *timeout); err != nil {
			return fmt.Errorf("routes=%d: %w", n, err)
		}
	}
	return nil
}

// size measures cold starts against a fresh control plane holding n routes.
func size(ctx context.Context, cpBin, agentBin string, rds *harness.Redis, be string, n, runs int, timeout time.Duration) error {
	if err := rds.Flush(ctx); err != nil {
		return err
	}
	cp, err := harness.StartControl(ctx, harness.ControlOptions{Bin: cpBin, RedisURL: rds.URL(), Replica: "bench-cold"})
	if err != nil {
		return err
	}
	defer cp.Stop()
	bytes, err := load(ctx, edgeplanev1.NewConfigServiceClient(cp.Conn), n, be)
	if err != nil {
		return err
	}
	var total, apply, other []time.Duration
	for r := range runs {
		t, a, err := coldStart(ctx, agentBin, cp.Addr, fmt.Sprintf("r-%07d.cold.example", n-1), timeout)
		if err != nil {
			fmt.Printf("bench=coldstart routes=%d run=%d snapshot_bytes=%d ms=failed error=%q\n", n, r, bytes, err.Error())
			return nil
		}
		total, apply, other = append(total, t), append(apply, a), append(other, t-a)
	}
	ms := func(ds []time.Duration) string { slices.Sort(ds); return harness.Ms(ds[len(ds)/2]) }
	med := slices.Sorted(slices.Values(total))[len(total)/2]
	fmt.Printf("bench=coldstart routes=%d runs=%d snapshot_bytes=%d ms=%s apply_ms=%s other_ms=%s goal_ms=%d pass=%v\n",
		n, runs, bytes, ms(total), ms(apply), ms(other), goal.Milliseconds(), med <= goal)
	return nil
}

// load stores n routes r-0000000 ... pointing at be and returns their encoded size.
func load(ctx context.Context, c edgeplanev1.ConfigServiceClient, n int, be string) (int, error) {
	const perRequest = 1000 // ApplyConfig's limit
	size := 0
	for start := 0; start < n; start += perRequest {
		req := &edgeplanev1.ApplyConfigRequest{}
		for i := start; i < min(start+perRequest, n); i++ {
			name := fmt.Sprintf("r-%07d", i)
			req.Routes = append(req.Routes, &edgeplanev1.Route{Name: name, Hosts: []string{name + ".cold.example"},
				Targets: []*edgeplanev1.Target{{Url: be}}})
		}
		size += proto.Size(&edgeplanev1.ConfigUpdate{Routes: req.GetRoutes()})
		if _, err := c.ApplyConfig(ctx, req); err != nil {
			return 0, fmt.Errorf("applying routes from %d: %w", start, err)
		}
	}
	return size, nil
}

// coldStart starts an agent with an empty cache and returns the time until it serves host,
// and its Apply time as it logged it.
func coldStart(ctx context.Context, bin, cpAddr, host string, timeout time.Duration) (time.Duration, time.Duration, error) {
	dir, err := os.MkdirTemp("", "edgeplane-coldstart-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	port, err := harness.FreePort()
	if err != nil {
		return 0, 0, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	cmd := exec.CommandContext(ctx, bin, "--control-plane", cpAddr, "--node-id", "cold", "--http-addr", addr,
		"--https-addr", "-", "--metrics-addr", "127.0.0.1:0", "--cache-dir", dir, "--log-format", "json")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logs, err := cmd.StderrPipe()
	if err != nil {
		return 0, 0, err
	}
	applied := make(chan time.Duration, 1)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, 0, err
	}
	go watchApply(logs, applied)
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	took, err := waitServing(ctx, addr, host, start, timeout)
	if err != nil {
		return 0, 0, err
	}
	select {
	case a := <-applied:
		return took, a, nil
	case <-time.After(5 * time.Second):
		return took, 0, fmt.Errorf("served, but no \"config applied\" log line")
	}
}

// waitServing polls addr with host until it answers 200.
func waitServing(ctx context.Context, addr, host string, start time.Time, timeout time.Duration) (time.Duration, error) {
	client := &http.Client{Timeout: time.Second}
	for time.Since(start) < timeout {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		req.Host = host
		if res, err := client.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, fmt.Errorf("not serving %s within %s", host, timeout)
}

// watchApply reads the agent's JSON log and sends the "took" of its first "config applied".
func watchApply(r io.Reader, applied chan<- time.Duration) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg  string `json:"msg"`
			Took int64  `json:"took"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "config applied" {
			select {
			case applied <- time.Duration(line.Took):
			default:
			}
		}
	}
}

// backend serves 200 "ok" on a loopback port and returns its URL.
func backend() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), nil
}
