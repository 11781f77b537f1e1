package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/bench/internal/harness"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/requestlog"
)

// sample is one row of the table.
type sample struct {
	at               time.Duration // since the load started
	rps              float64
	used             int64 // telemetry Redis used_memory, bytes
	records          int64 // request records retained
	perRecord        int64 // (used - used before the load) / records
	cpRSS, agentRSS  int64 // KiB
	recent, old      lookup
	metricsExact     bool
	metricsConverged time.Duration
	probes           int64
	lag              time.Duration // the metrics consumer's
}

// lookup is one GetTrace of a sampled request.
type lookup struct {
	tried, found bool
	age, took    time.Duration
}

func (l lookup) String() string {
	if !l.tried {
		return "-"
	}
	verdict := "found"
	if !l.found {
		verdict = "MISSING"
	}
	return fmt.Sprintf("%s (age %s, %.1f ms)", verdict, l.age.Round(time.Second), float64(l.took.Microseconds())/1000)
}

// sampler takes the samples.
type sampler struct {
	o        options
	r        *rig
	l        *load
	tel      edgeplanev1.TelemetryServiceClient
	start    time.Time
	base     int64 // used_memory before the load
	lastOK   int64
	lastAt   time.Time
	probes   int64
	probeCli *http.Client
}

// retained estimates the request records stream holds: agents publish them many to an
// entry, so its length times the records per entry of its oldest and newest 25 entries.
func retained(ctx context.Context, c redis.UniversalClient, stream string) (int64, error) {
	n, err := c.XLen(ctx, stream).Result()
	if err != nil || n == 0 {
		return 0, err
	}
	oldest, err := c.XRangeN(ctx, stream, "-", "+", 25).Result()
	if err != nil {
		return 0, err
	}
	newest, err := c.XRevRangeN(ctx, stream, "+", "-", 25).Result()
	if err != nil {
		return 0, err
	}
	var recs int64
	for _, m := range append(oldest, newest...) {
		requestlog.Each(m.Values, func(int, *requestlog.Record, error) bool { recs++; return true })
	}
	return n * recs / int64(len(oldest)+len(newest)), nil
}

func (s *sampler) take(ctx context.Context) (sample, error) {
	now := time.Now()
	sm := sample{at: now.Sub(s.start).Round(time.Second)}
	ok := s.l.ok.Load()
	sm.rps = float64(ok-s.lastOK) / now.Sub(s.lastAt).Seconds()
	s.lastOK, s.lastAt = ok, now
	var err error
	if sm.used, err = usedMemory(ctx, s.r); err != nil {
		return sm, err
	}
	if sm.records, err = retained(ctx, s.r.tel.Client, keyspace.DefaultRequestStream); err != nil {
		return sm, err
	}
	if sm.records > 0 {
		sm.perRecord = (sm.used - s.base) / sm.records
	}
	sm.cpRSS, _ = harness.RSSKiB(s.r.cp.PID())
	sm.agentRSS, _ = harness.RSSKiB(s.r.agent.Process.Pid)
	sm.recent = s.lookup(ctx, now.Add(-5*time.Second), 3*time.Second)
	if now.Sub(s.start) > s.o.retention {
		sm.old = s.lookup(ctx, now.Add(-s.o.retention*3/4), s.o.retention/10)
	}
	if res, err := s.tel.GetConsumerLag(ctx, &edgeplanev1.GetConsumerLagRequest{}); err == nil {
		for _, c := range res.GetConsumers() {
			if c.GetGroup() == "metrics" {
				sm.lag = c.GetLag().AsDuration()
			}
		}
	}
	sm.metricsExact, sm.metricsConverged = s.probe(ctx)
	sm.probes = s.probes
	return sm, nil
}

// lookup asks GetTrace for the kept trace nearest at; found means its request record.
func (s *sampler) lookup(ctx context.Context, at time.Time, tolerance time.Duration) lookup {
	t, ok := s.l.traceNear(at, tolerance)
	if !ok {
		return lookup{}
	}
	begin := time.Now()
	res, err := s.tel.GetTrace(ctx, &edgeplanev1.GetTraceRequest{TraceId: t.id})
	lk := lookup{tried: true, age: time.Since(t.at), took: time.Since(begin)}
	for _, e := range res.GetEntries() {
		lk.found = lk.found || (err == nil && e.GetStream() == keyspace.DefaultRequestStream && e.GetFields()["trace_id"] == t.id)
	}
	return lk
}

// probeBatch is how many requests each sample sends to the probe host.
const probeBatch = 20

// probe sends probeBatch requests to the probe host and waits (at most 20s) until
// GetMetrics counts exactly every probe sent so far.
func (s *sampler) probe(ctx context.Context) (bool, time.Duration) {
	for range probeBatch {
		if code, _, err := get(s.probeCli, s.r.agentAddr, probeHost); err == nil && code == http.StatusOK {
			s.probes++
		}
	}
	begin := time.Now()
	window := durationpb.New(min(24*time.Hour, time.Since(s.start)+time.Minute))
	for time.Since(begin) < 20*time.Second {
		res, err := s.tel.GetMetrics(ctx, &edgeplanev1.GetMetricsRequest{Host: probeHost, Window: window})
		if err == nil && res.GetTotal().GetRequests() == s.probes {
			return true, time.Since(begin)
		}
		if err == nil && res.GetTotal().GetRequests() > s.probes {
			return false, time.Since(begin)
		}
		if time.Since(begin) > 19*time.Second {
			fmt.Fprintf(os.Stderr, "# GetMetrics(%s): %v %v, want %d requests\n", probeHost, res, err, s.probes)
		}
		time.Sleep(100 * time.Millisecond) // polling the consumer's progress
	}
	return false, time.Since(begin)
}

func usedMemory(ctx context.Context, r *rig) (int64, error) {
	info, err := r.tel.Client.Info(ctx, "memory").Result()
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(info, "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("no used_memory in INFO")
}

const header = "| t | req/s | used_memory | request records | bytes/record | CP RSS | agent RSS | GetTrace recent | GetTrace older | consumer lag | GetMetrics exact |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|"

func (sm sample) row() string {
	exact := fmt.Sprintf("yes (%d probes, %.1f s)", sm.probes, sm.metricsConverged.Seconds())
	if !sm.metricsExact {
		exact = fmt.Sprintf("NO (%d probes)", sm.probes)
	}
	return fmt.Sprintf("| %s | %.0f | %.1f MB | %d | %d | %.0f MB | %.0f MB | %s | %s | %s | %s |",
		sm.at, sm.rps, float64(sm.used)/1e6, sm.records, sm.perRecord, float64(sm.cpRSS)/1024, float64(sm.agentRSS)/1024,
		sm.recent, sm.old, sm.lag.Round(time.Millisecond), exact)
}
