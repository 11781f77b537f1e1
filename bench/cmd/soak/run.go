package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func run(ctx context.Context, o options) error {
	r, err := start(ctx, o)
	if err != nil {
		return err
	}
	defer r.stop()
	s := &sampler{o: o, r: r, l: &load{}, tel: edgeplanev1.NewTelemetryServiceClient(r.cp.Conn),
		probeCli: &http.Client{Timeout: 5 * time.Second}}
	if s.base, err = usedMemory(ctx, r); err != nil {
		return err
	}
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	s.start, s.lastAt = time.Now(), time.Now()
	go func() { s.l.run(lctx, r.agentAddr, o.conns, o.retention+time.Minute); close(loadDone) }()
	defer func() { stopLoad(); <-loadDone }()

	fmt.Printf("soak: %s of load, retention %s, samples every %s, budget %d bytes/record; used_memory before the load %.1f MB\n\n%s\n",
		o.duration, o.retention, o.sample, o.budget, float64(s.base)/1e6, header)
	var samples []sample
	tick := time.NewTicker(o.sample)
	defer tick.Stop()
	for end := s.start.Add(o.duration); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		sm, err := s.take(ctx)
		if err != nil {
			return err
		}
		fmt.Println(sm.row())
		samples = append(samples, sm)
	}
	fmt.Printf("\nrequests: %d answered, %d failed\n", s.l.ok.Load(), s.l.failed.Load())
	return verdict(o, samples)
}

// verdict fails the run unless every lookup and probe worked and, once the retention window
// is full (plus a bucket and a sample), memory stays bounded: each retained record costs at
// most the budget (all telemetry memory counted), and the records held cover at most 1.5
// retention windows of the current rate. Together these bound memory at budget x rate x
// window, whatever the rate does; a leak (of records or of index) breaks one of them.
func verdict(o options, samples []sample) error {
	var errs []error
	var full []sample
	for _, sm := range samples {
		if !sm.recent.found || (sm.old.tried && !sm.old.found) {
			errs = append(errs, fmt.Errorf("at %s a sampled trace was not found", sm.at))
		}
		if !sm.metricsExact {
			errs = append(errs, fmt.Errorf("at %s GetMetrics did not count the probes exactly", sm.at))
		}
		if sm.at >= o.retention+o.retention/60+o.sample {
			full = append(full, sm)
		}
	}
	if len(full) < 3 {
		return errors.Join(append(errs, fmt.Errorf("only %d samples after the retention window filled: run longer", len(full)))...)
	}
	limit := 1.5*o.retention.Seconds() + o.sample.Seconds()/2
	for _, sm := range full {
		if sm.perRecord > o.budget {
			errs = append(errs, fmt.Errorf("at %s a retained record cost %d bytes, over the budget of %d", sm.at, sm.perRecord, o.budget))
		}
		if held := float64(sm.records) / windowRate(samples, sm.at, o.retention); held > limit {
			errs = append(errs, fmt.Errorf("at %s the records held cover %.0fs of traffic, over %.0fs: they outlive the retention", sm.at, held, limit))
		}
	}
	lo, hi := full[0], full[0]
	for _, sm := range full {
		if sm.used < lo.used {
			lo = sm
		}
		if sm.used > hi.used {
			hi = sm
		}
	}
	fmt.Printf("plateau over %d full-window samples: used_memory %.1f-%.1f MB (at %.0f and %.0f req/s), %d-%d bytes per retained record\n",
		len(full), float64(lo.used)/1e6, float64(hi.used)/1e6, lo.rps, hi.rps, minPerRecord(full), maxPerRecord(full))
	if len(errs) == 0 {
		fmt.Println("soak: PASS")
	}
	return errors.Join(errs...)
}

// windowRate is the mean request rate of the samples in the retention window ending at end:
// the rate that filled what is retained then.
func windowRate(samples []sample, end, retention time.Duration) float64 {
	var sum float64
	var n int
	for _, sm := range samples {
		if sm.at > end-retention && sm.at <= end {
			sum += sm.rps
			n++
		}
	}
	return sum / float64(n)
}

func minPerRecord(samples []sample) int64 {
	m := samples[0].perRecord
	for _, sm := range samples {
		m = min(m, sm.perRecord)
	}
	return m
}

func maxPerRecord(samples []sample) int64 {
	m := samples[0].perRecord
	for _, sm := range samples {
		m = max(m, sm.perRecord)
	}
	return m
}
