// Command soak drives maximum load through a real agent with request tracing on, for
// minutes, and watches what telemetry costs: every -sample it prints the telemetry Redis's
// used_memory, the retained request records (estimated: the stream length times the records
// per entry of its oldest and newest entries) and the bytes each costs, the agent's and the
// control plane's RSS, whether GetTrace finds a recent and an older-but-retained request,
// how long those lookups took, and whether GetMetrics counts a probe host exactly.
//
//	go run ./bench/cmd/soak -duration 10m -retention 2m
//
// It starts everything itself: a state redis-server and a telemetry redis-server, the real
// edgeplane-control (--telemetry-redis-url, --telemetry-retention) and edgeplane-agent
// binaries (built from this module unless -control/-agent name them), a tiny backend and an
// in-process HTTP load generator (keep-alive connections, no pause between requests). It
// exits non-zero when memory does not level off once the retention window is full (a
// retained record costs more than -budget bytes, all telemetry memory counted, or the
// records held cover more than 1.5 retention windows of traffic), a sampled trace is not
// found, or a metrics probe is not counted exactly.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
)

type options struct {
	duration, retention, sample time.Duration
	conns                       int
	budget                      int64
	maxRecords                  int64
	controlBin, agentBin        string
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 10*time.Minute, "how long to load")
	flag.DurationVar(&o.retention, "retention", 2*time.Minute, "--telemetry-retention of the control plane")
	flag.DurationVar(&o.sample, "sample", 30*time.Second, "sampling interval")
	flag.IntVar(&o.conns, "conns", 64, "keep-alive connections of the load generator")
	flag.Int64Var(&o.budget, "budget", 300, "most Redis bytes a retained request record may cost, all telemetry included")
	flag.Int64Var(&o.maxRecords, "max-records", 10_000_000, "--telemetry-max-records (high, so retention is what binds)")
	flag.StringVar(&o.controlBin, "control", "", "edgeplane-control binary (default: build ./controlplane)")
	flag.StringVar(&o.agentBin, "agent", "", "edgeplane-agent binary (default: build ./agent)")
	flag.Parse()
	harness.RaiseNoFile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}
