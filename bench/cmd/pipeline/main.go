// Command pipeline measures request-to-metrics latency: request records are published into
// logs:request:stream at a steady rate (as agents publish them, through the same
// non-blocking publisher, compact records packed many to an entry), and the real control plane's metrics consumer turns them into
// counts. Every 50 ms the benchmark samples the consumer's lag, the age of the oldest record
// not yet counted; its p50/p99 bound how long a request takes to show in GetMetrics. At the
// end every record must have been counted exactly once. It also reports the control plane's
// and redis-server's CPU time per record from the start of publishing until every record
// was counted (the control plane's includes this program's GetMetrics and lag polls).
//
//	bench=pipeline rate=20000 duration_s=5 blocks=true published=... counted=... lag_p50_ms=... lag_p99_ms=... cp_us_per_record=... redis_us_per_record=...
//
// -blocks=false publishes one compact record an entry (as agents did before blocks), to
// measure a control plane of then (-bin).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// stream is the request stream of the control plane's default namespace.
var stream = keyspace.DefaultRequestStream

const goalP99 = time.Second

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pipeline:", err)
		os.Exit(1)
	}
}

func run() error {
	bin := flag.String("bin", "", "edgeplane-control binary (default: build ./controlplane)")
	rate := flag.Int("rate", 20000, "request records per second")
	dur := flag.Duration("duration", 5*time.Second, "how long to publish")
	blocks := flag.Bool("blocks", true, "pack records many to an entry as agents do (false: one an entry, as agents did before, for a control plane of then)")
	flag.Parse()
	ctx, b, rds, done, err := harness.Setup(*bin)
	if err != nil {
		return err
	}
	defer done()
	cp, err := harness.StartControl(ctx, harness.ControlOptions{Bin: b, RedisURL: rds.URL()})
	if err != nil {
		return err
	}
	defer cp.Stop()
	tel := edgeplanev1.NewTelemetryServiceClient(cp.Conn)

	// As agents publish: compact records, many to an entry.
	cfg := publish.Config{Client: rds.Client, Buffer: 1 << 18}
	if *blocks {
		// Compressed, as agents send them to a control plane that reads them.
		cfg.Pack = &publish.Packing{Field: requestlog.Field, Into: requestlog.BlockField,
			MaxRecords: requestlog.MaxBlockRecords, MaxBytes: requestlog.MaxBlockBytes,
			Encode: func() (string, func(dst, v []byte) []byte) { return requestlog.ZBlockField, requestlog.AppendZBlock }}
		cfg.Linger = 100 * time.Millisecond // the agent's (agent/internal/node traceLinger)
	}
	pub := publish.New(cfg)
	pctx, stopPub := context.WithCancel(ctx)
	defer stopPub()
	pubDone := make(chan struct{})
	go func() { _ = pub.Run(pctx); close(pubDone) }()

	lags := sample(ctx, tel, *dur+2*time.Second)
	cpu0, redis0 := cpuOf(cp.PID()), cpuOf(rds.PID())
	published := produce(ctx, pub, *rate, *dur)
	want := int64(published)
	var got int64
	deadline := time.Now().Add(30 * time.Second)
	for got != want && time.Now().Before(deadline) {
		res, err := tel.GetMetrics(ctx, &edgeplanev1.GetMetricsRequest{Window: durationpb.New(10 * time.Minute)})
		if err != nil {
			return err
		}
		got = res.GetTotal().GetRequests()
		time.Sleep(100 * time.Millisecond)
	}
	cpuCP, cpuRedis := cpuOf(cp.PID())-cpu0, cpuOf(rds.PID())-redis0
	samples := <-lags
	stopPub()
	<-pubDone
	if st := pub.Stats(); st.Dropped > 0 {
		return fmt.Errorf("the publisher dropped %d records", st.Dropped)
	}
	slices.Sort(samples)
	p50, p99 := pct(samples, 0.50), pct(samples, 0.99)
	perRec := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(max(want, 1)) }
	fmt.Printf("bench=pipeline rate=%d duration_s=%.0f blocks=%v published=%d counted=%d exact=%v lag_p50_ms=%.1f lag_p99_ms=%.1f lag_max_ms=%.1f goal_p99_ms=%d cp_us_per_record=%.2f redis_us_per_record=%.2f pass=%v\n",
		*rate, dur.Seconds(), *blocks, want, got, got == want, ms(p50), ms(p99), ms(pct(samples, 1)), goalP99.Milliseconds(),
		perRec(cpuCP), perRec(cpuRedis), got == want && p99 <= goalP99)
	return nil
}

// produce publishes records at rate per second for dur, in 10 ms ticks, and returns how many.
func produce(ctx context.Context, pub *publish.Publisher, rate int, dur time.Duration) int {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	end := time.Now().Add(dur)
	start, n := time.Now(), 0
	rec := requestlog.Compact{Host: "bench.test", Method: "GET", Path: "/", Status: 200, Duration: time.Millisecond, Route: "bench", Node: "bench", Revision: 1}
	var buf []byte
	for now := range tick.C {
		if now.After(end) || ctx.Err() != nil {
			return n
		}
		due := int(float64(rate) * now.Sub(start).Seconds())
		for ; n < due; n++ {
			if n%10 == 0 {
				rec.Status = 503
			} else {
				rec.Status = 200
			}
			rec.TraceID[0], rec.TraceID[1], rec.SpanID[0] = byte(n), byte(n>>8), byte(n)
			buf = rec.Append(buf[:0])
			pub.PublishValue(rec.SpanID[0], stream, requestlog.Field, buf) // one compact record an entry unless packed
		}
	}
	return n
}

// sample reads the metrics group's lag every 50 ms for d and sends the samples.
func sample(ctx context.Context, tel edgeplanev1.TelemetryServiceClient, d time.Duration) <-chan []time.Duration {
	out := make(chan []time.Duration, 1)
	go func() {
		var s []time.Duration
		end := time.Now().Add(d)
		for time.Now().Before(end) && ctx.Err() == nil {
			res, err := tel.GetConsumerLag(ctx, &edgeplanev1.GetConsumerLagRequest{})
			if err == nil {
				for _, c := range res.GetConsumers() {
					if c.GetStream() == stream {
						s = append(s, c.GetLag().AsDuration())
					}
				}
			}
			time.Sleep(50 * time.Millisecond)
		}
		out <- s
	}()
	return out
}

// cpuOf is pid's user+system time so far (0 if unreadable).
func cpuOf(pid int) time.Duration {
	d, _ := harness.CPUTime(pid)
	return d
}

func pct(s []time.Duration, q float64) time.Duration {
	if len(s) == 0 {
		return 0
	}
	i := int(q * float64(len(s)-1))
	return s[i]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
