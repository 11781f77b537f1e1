// Command memory measures the control plane's resident memory per connected idle agent.
//
// It starts the real control plane (with GODEBUG=gctrace=1, so the runtime reports its live
// heap and goroutine stacks on stderr) on a fresh redis-server, creates a few routes, samples
// VmRSS with no agents, connects N idle fake agents, waits until each got its snapshot and
// then a while longer (past one status heartbeat), samples VmRSS again and prints
// (RSS_N - RSS_0)/N:
//
//	bench=memory agents=10000 conn_per_agent=false rss0_kib=... rssN_kib=... per_agent_kib=...
//
// By default the fake agents share connections (harness.StreamsPerConn streams each);
// -conn-per-agent gives each its own, as real agents connect, so the figure includes the
// memory gRPC keeps per connection.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

const goalKiB = 64

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "memory:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "edgeplane-control binary (default: build ./controlplane)")
	n := flag.Int("agents", 10000, "idle agents to connect")
	routesN := flag.Int("routes", 10, "routes in the config (each agent's snapshot)")
	settle := flag.Duration("settle", 6*time.Second, "wait after the last snapshot before sampling (>= one 5s heartbeat)")
	samples := flag.Int("samples", 5, "RSS samples (1s apart); the median is reported")
	perConn := flag.Bool("conn-per-agent", false, "give every agent its own connection, as real agents have (default: shared connections)")
	flag.Parse()
	ctx, b, rds, done, err := harness.Setup(*bin)
	if err != nil {
		return err
	}
	defer done()
	cp, err := harness.StartControl(ctx, harness.ControlOptions{Bin: b, RedisURL: rds.URL(), Replica: "bench-mem", Env: []string{"GODEBUG=gctrace=1"}})
	if err != nil {
		return err
	}
	defer cp.Stop()
	routes := edgeplanev1.NewRoutingServiceClient(cp.Conn)
	for i := range *routesN {
		if _, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: harness.BenchRoute(fmt.Sprintf("r%d", i))}); err != nil {
			return err
		}
	}
	// Warm-up: the API paths the idle fleet will use, then quiet.
	if _, err := edgeplanev1.NewFleetServiceClient(cp.Conn).ListAgents(ctx, &edgeplanev1.ListAgentsRequest{}); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	rss0, err := sample(ctx, cp.PID(), *samples)
	if err != nil {
		return err
	}
	gc0, _ := harness.LastGCTrace(cp.Log())
	st0, _ := harness.ProcStatus(cp.PID())

	t0 := time.Now()
	fleet, err := harness.ConnectFleetWith(ctx, cp.Addr, "mem", *n, harness.FleetOptions{ConnPerAgent: *perConn})
	if err != nil {
		return err
	}
	defer fleet.Close()
	if err := fleet.WaitInitial(ctx, 30*time.Second); err != nil {
		return err
	}
	initial := time.Since(t0)
	time.Sleep(*settle)
	rssN, err := sample(ctx, cp.PID(), *samples)
	if err != nil {
		return err
	}
	gcN, _ := harness.LastGCTrace(cp.Log())
	stN, _ := harness.ProcStatus(cp.PID())
	if fleet.Failed() > 0 {
		return fmt.Errorf("%d agent streams failed: %v", fleet.Failed(), fleet.FirstErr())
	}
	per := float64(rssN-rss0) / float64(*n)
	fmt.Printf("bench=memory agents=%d conn_per_agent=%t routes=%d initial_all_s=%.2f rss0_kib=%d rssN_kib=%d per_agent_kib=%.1f "+
		"hwm_kib=%d threads=%d gc_heap_live0_mb=%d gc_heap_liveN_mb=%d gc_stacks0_mb=%d gc_stacksN_mb=%d "+
		"heap_per_agent_kib=%.1f stacks_per_agent_kib=%.1f goal_kib=%d pass=%t\n",
		*n, *perConn, *routesN, initial.Seconds(), rss0, rssN, per, stN["VmHWM"], stN["Threads"],
		gc0.HeapLiveMB, gcN.HeapLiveMB, gc0.StacksMB, gcN.StacksMB,
		float64(gcN.HeapLiveMB-gc0.HeapLiveMB)*1024/float64(*n), float64(gcN.StacksMB-gc0.StacksMB)*1024/float64(*n),
		goalKiB, per <= goalKiB)
	_ = st0
	if gcN.Line != "" {
		fmt.Fprintln(os.Stderr, "last gctrace with agents:", gcN.Line)
	}
	return nil
}

func sample(ctx context.Context, pid, n int) (int64, error) {
	var xs []int64
	for i := range n {
		if i > 0 {
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(time.Second):
			}
		}
		v, err := harness.RSSKiB(pid)
		if err != nil {
			return 0, err
		}
		xs = append(xs, v)
	}
	return harness.Median(xs), nil
}
