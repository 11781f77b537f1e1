package telemetry_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// peersRecord is record i as bench/peers/run.sh's wrk load makes them: one host and route,
// path "/", one client IP (agents write the IP, not the port), 200s of a few hundred µs, a
// random trace id each.
func peersRecord(rng *rand.Rand, _ int) requestlog.Record {
	return requestlog.Record{
		TraceID: fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64()), SpanID: fmt.Sprintf("%016x", rng.Uint64()),
		Node: "bench-trace", Host: "localhost", Method: "GET", Path: "/", Status: 200,
		Duration: time.Duration(100+rng.IntN(400)) * time.Microsecond, BytesOut: 12,
		Client: "127.0.0.1", Route: "bench", Upstream: "http://127.0.0.1:9000", Revision: 3,
	}
}

// BenchmarkRequestConsumers measures what the control plane's request-stream consumers
// (metrics with the trace index, and log search, wired as the app wires them) cost per
// record, on the control plane's side (this process's CPU time) and on redis-server's
// (/proc/<pid>/stat), as agents load them: by default 12,000 records a second, blocks of
// 240, read 10 blocks at a time (a loaded peers run of earlier agents, read every 200 ms).
// $BENCH_RATE, $BENCH_BLOCK and $BENCH_BATCH set the rate, the records a block and the
// blocks a read: bench/peers/run.sh's tracing-on row is ~50,000 records a second in full
// blocks (256, the agent's 100 ms linger), read ~100 at a time (the consumer's 500 ms;
// ~40 when it read every 200 ms). The stream is filled first (not measured), then consumed
// to the end.
//
//	go test ./controlplane/internal/telemetry/ -run '^$' -bench RequestConsumers -benchtime 1x -count 5
//	BENCH_RATE=50000 BENCH_BLOCK=256 BENCH_BATCH=100 go test ... # as in the peers run
func BenchmarkRequestConsumers(b *testing.B) {
	for _, mix := range []struct {
		name string
		rec  func(*rand.Rand, int) requestlog.Record
	}{{"peers", peersRecord}, {"mixed", benchRecord}} {
		b.Run(mix.name, func(b *testing.B) { benchConsumers(b, mix.rec) })
	}
}

func benchConsumers(b *testing.B, gen func(*rand.Rand, int) requestlog.Record) {
	const seconds = 20
	rate, perBlock := benchEnv("BENCH_RATE", 12000), benchEnv("BENCH_BLOCK", 240)
	srv := redistest.New(b)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 16})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 8})
	b.Cleanup(func() { rdb.Close(); tail.Close() })
	ctx := b.Context()
	info, err := rdb.Info(ctx, "server").Result()
	if err != nil {
		b.Fatal(err)
	}
	pid := 0
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	blocks := make([]string, 16)
	for i := range blocks {
		recs := make([]requestlog.Record, perBlock)
		for j := range recs {
			recs[j] = gen(rng, j)
		}
		// Compressed, as agents send them to a control plane that reads them.
		blocks[i] = string(requestlog.AppendZBlock(nil, requestlog.AppendBlock(nil, recs)))
	}
	var cpTotal, redisTotal time.Duration
	records := 0
	for b.Loop() {
		b.StopTimer()
		if err := rdb.FlushAll(ctx).Err(); err != nil {
			b.Fatal(err)
		}
		stream := telemetry.StreamNames("").Requests
		now, _ := rdb.Time(ctx).Result()
		start := now.Add(-seconds * time.Second).UnixMilli()
		n := rate * seconds / perBlock
		last := ""
		pipe := rdb.Pipeline()
		for i := range n {
			last = strconv.FormatInt(start+int64(i*1000*perBlock/rate), 10) + "-" + strconv.Itoa(i%3)
			pipe.XAdd(ctx, &redis.XAddArgs{Stream: stream, ID: last, Values: []any{requestlog.ZBlockField, blocks[i%len(blocks)]}})
			if pipe.Len() == 100 || i == n-1 {
				if _, err := pipe.Exec(ctx); err != nil {
					b.Fatal(err)
				}
			}
		}
		groups := requestConsumers(rdb, tail, stream)
		_ = rdb.ConfigResetStat(ctx).Err()
		cp0, redis0 := selfCPU(b), procCPU(b, pid)
		b.StartTimer()
		runCtx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, g := range groups {
			wg.Add(1)
			go func() { defer wg.Done(); _ = g.c.Run(runCtx) }()
		}
		for done := false; !done; {
			time.Sleep(50 * time.Millisecond) // polling the groups' progress (XINFO), not syncing
			gs, err := rdb.XInfoGroups(ctx, stream).Result()
			if err != nil {
				continue
			}
			done = len(gs) == len(groups)
			for _, g := range gs {
				done = done && g.LastDeliveredID == last && g.Pending == 0
			}
		}
		stop()
		wg.Wait()
		b.StopTimer()
		cpTotal += selfCPU(b) - cp0
		redisTotal += procCPU(b, pid) - redis0
		records += n * perBlock
		if os.Getenv("CMDSTATS") != "" {
			st, _ := rdb.Info(ctx, "commandstats").Result()
			b.Log(st)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(cpTotal.Nanoseconds())/1000/float64(records), "cp-µs/record")
	b.ReportMetric(float64(redisTotal.Nanoseconds())/1000/float64(records), "redis-µs/record")
}

// benchEnv is $name as a positive number, or def.
func benchEnv(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func selfCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func procCPU(b *testing.B, pid int) time.Duration {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	s := string(data)
	fs := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(fs[11], 10, 64)
	st, _ := strconv.ParseInt(fs[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond // USER_HZ 100
}
