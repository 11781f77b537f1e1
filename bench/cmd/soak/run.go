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

// verdict fails the run unless, once the retention window is full (plus a minute's bucket
// and a sample), memory stays flat and within the budget, and every lookup and probe worked.
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
	first, peak := full[0].used, int64(0)
	for _, sm := range full[len(full)*2/3:] {
		peak = max(peak, sm.used)
	}
	fmt.Printf("plateau: %.1f MB at the first full-window sample, at most %.1f MB over the last third (%+.0f%%)\n",
		float64(first)/1e6, float64(peak)/1e6, 100*(float64(peak)/float64(first)-1))
	if float64(peak) > float64(first)*(1+o.growth) {
		errs = append(errs, fmt.Errorf("memory did not level off: %d bytes, then %d", first, peak))
	}
	for _, sm := range full {
		if sm.perRecord > o.budget {
			errs = append(errs, fmt.Errorf("at %s a retained record cost %d bytes, over the budget of %d", sm.at, sm.perRecord, o.budget))
		}
	}
	return errors.Join(errs...)
}
