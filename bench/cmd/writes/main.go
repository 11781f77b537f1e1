// Command writes measures route writes per second through the real control plane.
//
// C concurrent clients call RoutingService.CreateRoute with unique routes for D seconds, first
// with no agents connected, then with N agents (fake, acking every update at once). As a
// baseline, the same C goroutines run single INCRs through go-redis against the same Redis
// for D seconds, so writes/s can be read as a share of raw Redis round trips:
//
//	bench=writes agents=0 clients=16 writes_per_s=... p50_ms=... p99_ms=... share_of_redis_incr=...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
)

const goalPerSec = 5000

// The counters the Redis baseline INCRs.
var warmKey, incrKey = keyspace.New("").BenchCounter("warm"), keyspace.New("").BenchCounter("incr")

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "writes:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "edgeplane-control binary (default: build ./controlplane)")
	clients := flag.Int("clients", 16, "concurrent writers")
	dur := flag.Duration("duration", 5*time.Second, "length of each run")
	agentsFlag := flag.String("agents", "0,100", "connected agents per run, comma-separated")
	conns := flag.Int("conns", 4, "gRPC connections the writers share")
	flag.Parse()
	ctx, b, rds, done, err := harness.Setup(*bin)
	if err != nil {
		return err
	}
	defer done()

	base, err := incrBaseline(ctx, rds, *clients, *dur)
	if err != nil {
		return err
	}
	fmt.Printf("bench=writes_baseline op=redis_incr clients=%d duration_s=%.1f ops_per_s=%.0f p50_ms=%s p99_ms=%s\n",
		*clients, dur.Seconds(), base.rate, harness.Ms(base.lat.Quantile(0.5)), harness.Ms(base.lat.Quantile(0.99)))

	for _, s := range strings.Split(*agentsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 {
			return fmt.Errorf("bad -agents entry %q", s)
		}
		if err := rds.Flush(ctx); err != nil {
			return err
		}
		r, err := writeRun(ctx, b, rds, n, *clients, *conns, *dur)
		if err != nil {
			return fmt.Errorf("agents=%d: %w", n, err)
		}
		fmt.Printf("bench=writes agents=%d clients=%d duration_s=%.1f writes=%d errors=%d writes_per_s=%.0f p50_ms=%s p99_ms=%s "+
			"cp_cpu_pct=%.0f redis_cpu_pct=%.0f bench_cpu_pct=%.0f other_cpu_pct=%.0f updates_per_agent=%.0f routes_per_update=%.1f redis_incr_per_s=%.0f share_of_redis_incr=%.3f goal_per_s=%d pass=%t\n",
			n, *clients, dur.Seconds(), r.n, r.errs, r.rate, harness.Ms(r.lat.Quantile(0.5)), harness.Ms(r.lat.Quantile(0.99)),
			r.cpCPU*100, r.redisCPU*100, r.benchCPU*100, max(0, r.otherCPU*100), r.updatesPerAgent, r.routesPerUpdate, base.rate, r.rate/base.rate, goalPerSec, r.rate >= goalPerSec)
	}
	return nil
}

type result struct {
	n, errs         int64
	rate            float64
	lat             harness.Durations
	cpCPU, redisCPU float64 // cores busy during the run
	benchCPU        float64 // this process: writers and fake agents
	otherCPU        float64 // everything else on the machine (noise)
	updatesPerAgent float64 // updates each agent received during the run
	routesPerUpdate float64 // coalescing: routes carried per update
}

// drive runs op from c goroutines for d and collects latencies.
func drive(ctx context.Context, c int, d time.Duration, op func(ctx context.Context, worker, i int) error) result {
	var n, errs atomic.Int64
	lats := make([]harness.Durations, c)
	var wg sync.WaitGroup
	end := time.Now().Add(d)
	start := time.Now()
	for w := range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(end) && ctx.Err() == nil; i++ {
				t := time.Now()
				if err := op(ctx, w, i); err != nil {
					if errs.Add(1) == 1 {
						fmt.Fprintln(os.Stderr, "first error:", err)
					}
					continue
				}
				lats[w] = append(lats[w], time.Since(t))
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	var all harness.Durations
	for _, l := range lats {
		all = append(all, l...)
	}
	return result{n: n.Load(), errs: errs.Load(), rate: float64(n.Load()) / el.Seconds(), lat: all}
}

func incrBaseline(ctx context.Context, rds *harness.Redis, c int, d time.Duration) (result, error) {
	cl := redis.NewClient(&redis.Options{Addr: rds.Addr, PoolSize: c, MinIdleConns: c})
	defer cl.Close()
	if err := cl.Ping(ctx).Err(); err != nil {
		return result{}, err
	}
	drive(ctx, c, 300*time.Millisecond, func(ctx context.Context, _, _ int) error { return cl.Incr(ctx, warmKey).Err() })
	r := drive(ctx, c, d, func(ctx context.Context, _, _ int) error { return cl.Incr(ctx, incrKey).Err() })
	return r, cl.Del(ctx, incrKey, warmKey).Err()
}

func writeRun(ctx context.Context, bin string, rds *harness.Redis, agents, c, nconn int, d time.Duration) (result, error) {
	cp, err := harness.StartControl(ctx, harness.ControlOptions{Bin: bin, RedisURL: rds.URL(), Replica: "bench-writes"})
	if err != nil {
		return result{}, err
	}
	defer cp.Stop()
	routes := edgeplanev1.NewRoutingServiceClient(cp.Conn)
	if _, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: harness.BenchRoute("seed")}); err != nil {
		return result{}, err
	}
	fleet, err := harness.ConnectFleet(ctx, cp.Addr, "wr", agents)
	if err != nil {
		return result{}, err
	}
	defer fleet.Close()
	if err := fleet.WaitInitial(ctx, 30*time.Second); err != nil {
		return result{}, err
	}
	var clientsv []edgeplanev1.RoutingServiceClient
	for range max(1, nconn) {
		cc, err := grpc.NewClient(cp.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return result{}, err
		}
		defer cc.Close()
		clientsv = append(clientsv, edgeplanev1.NewRoutingServiceClient(cc))
	}
	create := func(prefix string) func(ctx context.Context, w, i int) error {
		return func(ctx context.Context, w, i int) error {
			_, err := clientsv[w%len(clientsv)].CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{
				Route: harness.BenchRoute(fmt.Sprintf("%s-%d-%d", prefix, w, i))})
			return err
		}
	}
	drive(ctx, c, 300*time.Millisecond, create("warm")) // warm-up: connections, script cache
	cp0, _ := harness.CPUTime(cp.PID())
	rd0, _ := harness.CPUTime(rds.PID())
	me0 := harness.SelfCPUTime()
	mb0, _ := harness.MachineCPU()
	u0, r0 := fleet.Received()
	t := time.Now()
	r := drive(ctx, c, d, create("w"))
	el := time.Since(t)
	cp1, _ := harness.CPUTime(cp.PID())
	rd1, _ := harness.CPUTime(rds.PID())
	r.cpCPU = float64(cp1-cp0) / float64(el)
	r.redisCPU = float64(rd1-rd0) / float64(el)
	r.benchCPU = float64(harness.SelfCPUTime()-me0) / float64(el)
	mb1, _ := harness.MachineCPU()
	r.otherCPU = float64(mb1-mb0)/float64(el) - r.cpCPU - r.redisCPU - r.benchCPU
	u1, r1 := fleet.Received()
	if agents > 0 {
		r.updatesPerAgent = float64(u1-u0) / float64(agents)
		if u1 > u0 {
			r.routesPerUpdate = float64(r1-r0) / float64(u1-u0)
		}
	}
	if fleet.Failed() > 0 {
		return r, fmt.Errorf("%d agent streams failed: %v", fleet.Failed(), fleet.FirstErr())
	}
	return r, nil
}
