// Command propagation measures how long a committed route change takes to reach every agent.
//
// For each fleet size N it starts a fresh control plane (the real binary) on a flushed
// redis-server, connects N in-process fake agents (Hello, then an immediate Ack per update),
// waits for every initial update, then makes W sequential CreateRoute calls (distinct routes,
// no wait_for_agents). For each write it takes the moment the call returned (the commit) and
// the moment the last agent received the new revision; write k+1 starts only after every agent
// received write k. It prints one line per N (and per -tls mode):
//
//	bench=propagation tls=off agents=1000 writes=50 commit_to_all_acked_p50_ms=... commit_to_all_acked_p99_ms=...
//
// -tls off,on runs each size in plaintext and then with mTLS (the control plane serving TLS
// with a CA the benchmark made, every fake agent with its own certificate); both modes then
// give every agent its own connection, as real agents have, so only TLS differs. -repeat R
// runs the modes R times, alternating their order, and ends with one line of medians and
// mTLS/plaintext ratios:
//
//	bench=propagation-tls-ratio agents=1000 repeats=3 ... p50_ratio=... p99_ratio=... cpu_ratio=...
//
// cpu_us_per_agent_write is the control plane's CPU (from /proc) over the writes, per write and
// per agent. -base-bin runs a second control-plane binary (a baseline, e.g. main built apart)
// beside -bin, alternating their order per repeat, and ends with medians and new/base ratios:
//
//	bench=propagation-base-ratio tls=off agents=10000 repeats=3 ... p99_ratio=... cpu_us_per_agent_write_new=... cpu_ratio=...
//
// -perf FILE records the control plane's CPU during the writes (perf record -g) for perf report.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "propagation:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "edgeplane-control binary (default: build ./controlplane)")
	agentsFlag := flag.String("agents", "1,100,1000,10000", "fleet sizes, comma-separated")
	writes := flag.Int("writes", 50, "sequential writes per fleet size")
	gap := flag.Duration("gap", 0, "pause between one write reaching every agent and the next write")
	budget := flag.Duration("budget", 45*time.Second, "stop issuing writes for a fleet size after this long")
	tlsModes := flag.String("tls", "off", "off, on, or off,on to compare plaintext with mTLS in one run")
	baseBin := flag.String("base-bin", "", "a baseline edgeplane-control binary: each size and mode then runs with it and with -bin, alternating their order per repeat, and a bench=propagation-base-ratio line compares them")
	flag.StringVar(&perfOut, "perf", "", "record the control plane's CPU during the writes with perf record -g into FILE-<control>-<agents>-<tls>-<repeat> (read with perf report -i)")
	repeat := flag.Int("repeat", 1, "run the -tls modes this many times, alternating their order (off,on then on,off...) so drift in the machine's load hits both")
	flag.Parse()
	modes := strings.Split(*tlsModes, ",")
	perAgent := len(modes) > 1 || modes[0] != "off"
	var sizes []int
	for _, s := range strings.Split(*agentsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("bad -agents entry %q", s)
		}
		sizes = append(sizes, n)
	}
	ctx, b, rds, done, err := harness.Setup(*bin)
	if err != nil {
		return err
	}
	defer done()
	controls := []control{{"new", b}}
	if *baseBin != "" {
		controls = []control{{"base", *baseBin}, {"new", b}}
	}
	for _, n := range sizes {
		results := map[string][]result{} // by control and mode ("new/off")
		for r := range max(*repeat, 1) {
			for _, c := range order(controls, r) {
				for _, mode := range order(modes, r) {
					m := mode2opts(mode, perAgent)
					if m.err != nil {
						return m.err
					}
					m.control, m.repeat, m.compared = c.name, r, len(controls) > 1
					res, err := scenario(ctx, c.bin, rds, n, *writes, *gap, *budget, m)
					if m.pki != nil {
						m.pki.Close()
					}
					if err != nil {
						return fmt.Errorf("agents=%d tls=%s control=%s: %w", n, mode, c.name, err)
					}
					results[c.name+"/"+mode] = append(results[c.name+"/"+mode], res)
				}
			}
		}
		if on, off := results["new/on"], results["new/off"]; len(on) > 0 && len(off) > 0 {
			printRatio(n, on, off)
		}
		for _, mode := range modes {
			if base := results["base/"+mode]; len(base) > 0 {
				printBaseRatio(n, mode, results["new/"+mode], base)
			}
		}
	}
	return nil
}

// control is one control-plane binary under test.
type control struct{ name, bin string }

// perfOut, when set, is where scenario records the control plane's CPU profile (-perf).
var perfOut string

// printBaseRatio prints the new control plane against the baseline: medians over the repeats.
func printBaseRatio(n int, mode string, cur, base []result) {
	cpu := func(r result) float64 { return r.cpu * 1000 / float64(n) }
	fmt.Printf("bench=propagation-base-ratio tls=%s agents=%d repeats=%d p50_ms_new=%.1f p50_ms_base=%.1f p50_ratio=%.3f "+
		"p99_ms_new=%.1f p99_ms_base=%.1f p99_ratio=%.3f cpu_us_per_agent_write_new=%.2f cpu_us_per_agent_write_base=%.2f cpu_ratio=%.3f\n",
		mode, n, len(cur), median(cur, p50), median(base, p50), median(cur, p50)/median(base, p50),
		median(cur, p99), median(base, p99), median(cur, p99)/median(base, p99), median(cur, cpu), median(base, cpu), median(cur, cpu)/median(base, cpu))
}

// order is the modes (or controls) of repeat r: reversed on odd repeats.
func order[T any](modes []T, r int) []T {
	out := append([]T(nil), modes...)
	if r%2 == 1 {
		slices.Reverse(out)
	}
	return out
}

// result is what one scenario measured, for the ratio line.
type result struct {
	p50, p99 time.Duration
	cpu      float64 // control-plane CPU ms per write
}

// median is the median of f over rs.
func median(rs []result, f func(result) float64) float64 {
	xs := make([]float64, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

func p50(r result) float64 { return float64(r.p50) / float64(time.Millisecond) }
func p99(r result) float64 { return float64(r.p99) / float64(time.Millisecond) }

// printRatio prints mTLS against plaintext: the medians over the repeats of each mode, and
// their ratios.
func printRatio(n int, on, off []result) {
	cpu := func(r result) float64 { return r.cpu }
	fmt.Printf("bench=propagation-tls-ratio agents=%d repeats=%d median_p50_ms_on=%.1f median_p50_ms_off=%.1f p50_ratio=%.3f "+
		"median_p99_ms_on=%.1f median_p99_ms_off=%.1f p99_ratio=%.3f median_cp_cpu_ms_per_write_on=%.1f median_cp_cpu_ms_per_write_off=%.1f cpu_ratio=%.3f\n",
		n, len(on), median(on, p50), median(off, p50), median(on, p50)/median(off, p50),
		median(on, p99), median(off, p99), median(on, p99)/median(off, p99), median(on, cpu), median(off, cpu), median(on, cpu)/median(off, cpu))
}

// tlsMode is one -tls mode.
type tlsMode struct {
	name     string
	control  string // "new" or "base"
	repeat   int
	compared bool // a baseline runs too: lines say which control plane they measured
	pki      *harness.PKI
	perAgent bool
	err      error
}

func mode2opts(mode string, perAgent bool) tlsMode {
	switch mode {
	case "off":
		return tlsMode{name: mode, perAgent: perAgent}
	case "on":
		pki, err := harness.NewPKI()
		return tlsMode{name: mode, pki: pki, perAgent: true, err: err}
	}
	return tlsMode{err: fmt.Errorf("bad -tls mode %q: want off or on", mode)}
}

func goal(n int) time.Duration {
	switch n {
	case 1000:
		return 100 * time.Millisecond
	case 10000:
		return time.Second
	}
	return 0
}

func scenario(ctx context.Context, bin string, rds *harness.Redis, n, writes int, gap, budget time.Duration, m tlsMode) (result, error) {
	if err := rds.Flush(ctx); err != nil {
		return result{}, err
	}
	cp, err := harness.StartControl(ctx, harness.ControlOptions{Bin: bin, RedisURL: rds.URL(), Replica: "bench-prop", PKI: m.pki})
	if err != nil {
		return result{}, err
	}
	defer cp.Stop()
	routes := edgeplanev1.NewRoutingServiceClient(cp.Conn)
	// A first route, so agents have a revision to receive on connect.
	if _, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: harness.BenchRoute("seed")}); err != nil {
		return result{}, fmt.Errorf("seed route: %w", err)
	}

	t0 := time.Now()
	fleet, err := harness.ConnectFleetWith(ctx, cp.Addr, "prop", n, harness.FleetOptions{ConnPerAgent: m.perAgent, PKI: m.pki})
	if err != nil {
		return result{}, err
	}
	defer fleet.Close()
	connected := time.Since(t0)
	if err := fleet.WaitInitial(ctx, 30*time.Second); err != nil {
		return result{}, err
	}
	initial := time.Since(t0)
	time.Sleep(500 * time.Millisecond) // let the connect-time status writes drain

	var commitToAll, callToAll, perAgent, call harness.Durations
	cpu0, _ := harness.CPUTime(cp.PID())
	rcpu0, _ := harness.CPUTime(rds.PID())
	rcmd0 := redisCommands(ctx, rds)
	me0 := harness.SelfCPUTime()
	mb0, _ := harness.MachineCPU()
	stopPerf, err := startPerf(cp.PID(), fmt.Sprintf("%s-%s-%d-%s-%d", perfOut, m.control, n, m.name, m.repeat))
	if err != nil {
		return result{}, err
	}
	start := time.Now()
	var lastRev int64
	var lastCommit time.Time
	done := 0
	for k := range writes {
		if time.Since(start) > budget {
			break
		}
		before := time.Now()
		res, err := routes.CreateRoute(ctx, &edgeplanev1.CreateRouteRequest{Route: harness.BenchRoute(fmt.Sprintf("w%d", k))})
		after := time.Now()
		if err != nil {
			return result{}, fmt.Errorf("write %d: %w", k, err)
		}
		rev := res.GetRoute().GetRevision()
		times, err := fleet.Tracker.Wait(ctx, rev, 30*time.Second)
		if err != nil {
			return result{}, fmt.Errorf("write %d: %w (stream errors %d: %v)", k, err, fleet.Failed(), fleet.FirstErr())
		}
		var last time.Time
		for _, t := range times {
			if t.After(last) {
				last = t
			}
			perAgent = append(perAgent, max(0, t.Sub(after)))
		}
		commitToAll = append(commitToAll, max(0, last.Sub(after)))
		callToAll = append(callToAll, last.Sub(before))
		call = append(call, after.Sub(before))
		lastRev, lastCommit = rev, after
		done++
		if gap > 0 {
			time.Sleep(gap)
		}
	}
	elapsed := time.Since(start)
	stopPerf()
	cpu1, _ := harness.CPUTime(cp.PID())
	rcpu1, _ := harness.CPUTime(rds.PID())
	rcmd1 := redisCommands(ctx, rds)
	me1 := harness.SelfCPUTime()
	mb1, _ := harness.MachineCPU()
	other := (mb1 - mb0) - (cpu1 - cpu0) - (me1 - me0) - (rcpu1 - rcpu0)

	// The fleet status every replica reads (FleetService.ListAgents) must catch up too.
	statusLag := "timeout"
	fleetSvc := edgeplanev1.NewFleetServiceClient(cp.Conn)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		all, err := harness.ListAllAgents(ctx, fleetSvc)
		if err != nil {
			return result{}, fmt.Errorf("ListAgents: %w", err)
		}
		caught := 0
		for _, a := range all {
			if a.GetConnected() && a.GetAppliedRevision() >= lastRev {
				caught++
			}
		}
		if caught == n {
			statusLag = harness.Ms(time.Since(lastCommit))
			break
		}
	}

	g := goal(n)
	pass := "n/a"
	goalStr := "-"
	if g > 0 {
		goalStr = harness.Ms(g)
		pass = strconv.FormatBool(commitToAll.Quantile(0.99) <= g)
	}
	conns := n/harness.StreamsPerConn + 1
	if m.perAgent {
		conns = n
	}
	label := ""
	if m.compared {
		label = " control=" + m.control
	}
	cpuMs := float64(cpu1-cpu0) / float64(time.Millisecond) / float64(max(done, 1))
	fmt.Printf("bench=propagation%s tls=%s agents=%d writes=%d conns=%d connect_s=%.2f initial_all_s=%.2f "+
		"commit_to_all_acked_p50_ms=%s commit_to_all_acked_p99_ms=%s commit_to_all_acked_max_ms=%s "+
		"call_start_to_all_p50_ms=%s call_start_to_all_p99_ms=%s "+
		"per_agent_p50_ms=%s per_agent_p99_ms=%s create_call_p50_ms=%s create_call_p99_ms=%s "+
		"cp_cpu_ms_per_write=%.1f cpu_us_per_agent_write=%.2f bench_cpu_ms_per_write=%.1f redis_cpu_ms_per_write=%.1f redis_cmds_per_write=%.0f other_cpu_ms_per_write=%.1f writes_elapsed_s=%.2f fleet_status_lag_ms=%s stream_errors=%d goal_p99_ms=%s pass=%s\n",
		label, m.name, n, done, conns, connected.Seconds(), initial.Seconds(),
		harness.Ms(commitToAll.Quantile(0.5)), harness.Ms(commitToAll.Quantile(0.99)), harness.Ms(commitToAll.Max()),
		harness.Ms(callToAll.Quantile(0.5)), harness.Ms(callToAll.Quantile(0.99)),
		harness.Ms(perAgent.Quantile(0.5)), harness.Ms(perAgent.Quantile(0.99)),
		harness.Ms(call.Quantile(0.5)), harness.Ms(call.Quantile(0.99)),
		cpuMs, cpuMs*1000/float64(n),
		float64(me1-me0)/float64(time.Millisecond)/float64(max(done, 1)),
		float64(rcpu1-rcpu0)/float64(time.Millisecond)/float64(max(done, 1)), float64(rcmd1-rcmd0)/float64(max(done, 1)),
		float64(max(0, other))/float64(time.Millisecond)/float64(max(done, 1)), elapsed.Seconds(),
		statusLag, fleet.Failed(), goalStr, pass)
	return result{p50: commitToAll.Quantile(0.5), p99: commitToAll.Quantile(0.99), cpu: cpuMs}, nil
}

// redisCommands is how many commands the benchmark's redis-server has processed (0 on error).
func redisCommands(ctx context.Context, rds *harness.Redis) int64 {
	info, err := rds.Client.Info(ctx, "stats").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "total_commands_processed:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// startPerf starts perf record -g on pid into out, when -perf is set; the returned func stops
// it (SIGINT, so perf writes its file) and waits.
func startPerf(pid int, out string) (func(), error) {
	if perfOut == "" {
		return func() {}, nil
	}
	cmd := exec.Command("perf", "record", "-g", "-q", "-o", out, "-p", strconv.Itoa(pid))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting perf: %w", err)
	}
	time.Sleep(200 * time.Millisecond) // perf attaches
	fmt.Fprintf(os.Stderr, "# perf recording control plane pid=%d into %s\n", pid, out)
	return func() { _ = cmd.Process.Signal(syscall.SIGINT); _ = cmd.Wait() }, nil
}
