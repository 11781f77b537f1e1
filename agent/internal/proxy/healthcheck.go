package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Defaults of a route's health_check fields left at zero.
const (
	DefaultCheckInterval      = 10 * time.Second
	DefaultCheckTimeout       = 5 * time.Second
	DefaultHealthyThreshold   = 2
	DefaultUnhealthyThreshold = 3
	maxCheckBody              = 64 << 10 // bytes of a check's response body read (then dropped)
)

// checkConfig is a route's active health check with defaults filled in. It is comparable:
// part of the key that decides whether a prober survives a config change.
type checkConfig struct {
	path       string
	lo, hi     int // expected status range
	interval   time.Duration
	timeout    time.Duration
	rise, fall int // healthy_threshold, unhealthy_threshold
	jitter     int // percent of interval
	slowStart  time.Duration
}

// newCheckConfig returns h with defaults filled in; ok is false when the route has no
// health_check. The control plane validated h; what the agent could not probe safely is an
// error anyway (a config from an older control plane or a damaged cache), and durations
// are clamped to the API's bounds.
func newCheckConfig(h *edgeplanev1.HealthCheck) (cfg checkConfig, ok bool, err error) {
	if h == nil {
		return cfg, false, nil
	}
	if p := h.GetPath(); !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \t\r\n\x00#") {
		return cfg, false, fmt.Errorf("health_check.path %q is not an absolute path", p)
	}
	cfg = checkConfig{path: h.GetPath(), lo: int(h.GetExpectedStatusMin()), hi: int(h.GetExpectedStatusMax()),
		interval: h.GetInterval().AsDuration(), timeout: h.GetTimeout().AsDuration(),
		rise: int(min(h.GetHealthyThreshold(), 100)), fall: int(min(h.GetUnhealthyThreshold(), 100)),
		jitter: int(min(h.GetJitterPercent(), 100)), slowStart: min(max(h.GetSlowStart().AsDuration(), 0), time.Hour)}
	if cfg.lo == 0 {
		cfg.lo = 200
	}
	if cfg.hi == 0 {
		cfg.hi = max(399, cfg.lo)
	}
	if cfg.interval <= 0 {
		cfg.interval = DefaultCheckInterval
	}
	cfg.interval = min(max(cfg.interval, 100*time.Millisecond), time.Hour)
	if cfg.timeout <= 0 {
		cfg.timeout = DefaultCheckTimeout
	}
	cfg.timeout = min(max(cfg.timeout, 10*time.Millisecond), cfg.interval)
	cfg.rise = max(cmpOr(cfg.rise, DefaultHealthyThreshold), 1)
	cfg.fall = max(cmpOr(cfg.fall, DefaultUnhealthyThreshold), 1)
	return cfg, true, nil
}

func cmpOr(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

// Active health states of a target (activeHealth.status).
const (
	activeUnknown int32 = iota // not checked yet: in rotation
	activeUp                   // the last rise checks passed
	activeDown                 // the last fall checks failed (or the very first one did)
)

// activeHealth is the result of one target's active checks, written by its prober and read
// by pickers (any number of tables' targets for the same route and URL share it).
type activeHealth struct {
	key     checkKey
	status  atomic.Int32
	upSince atomic.Int64           // unix nanoseconds it last came back from activeDown; 0 if never down
	lastErr atomic.Pointer[string] // why the last check failed; nil after a good one
	epoch   *atomic.Uint64         // bumped on every change of status that pickers must see
}

// down reports whether the target failed its checks. Hot path: one atomic load.
func (a *activeHealth) down() bool { return a != nil && a.status.Load() == activeDown }

// prober runs one target's checks until its context ends.
type prober struct {
	state  *activeHealth
	url    string // scheme://host:port + path
	host   string
	client *http.Client
	log    *slog.Logger
}

// run checks the target every interval (with jitter) from now on, until ctx ends. The
// first check is at once unless jitter delays it by up to jitter percent of interval.
func (p *prober) run(ctx context.Context) {
	cfg := p.state.key.cfg
	var rise, fall int
	wait := time.Duration(0)
	if cfg.jitter > 0 {
		wait = time.Duration(rand.Int64N(int64(cfg.interval) * int64(cfg.jitter) / 100))
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		err := p.check(ctx, cfg)
		if ctx.Err() != nil {
			return
		}
		p.record(cfg, err, &rise, &fall)
		timer.Reset(jittered(cfg.interval, cfg.jitter))
	}
}

// jittered returns d changed by a random amount up to percent of it either way.
func jittered(d time.Duration, percent int) time.Duration {
	if percent <= 0 {
		return d
	}
	span := int64(d) * int64(percent) / 100
	return d + time.Duration(rand.Int64N(2*span+1)-span)
}

// check sends one GET and returns why it failed, or nil.
func (p *prober) check(ctx context.Context, cfg checkConfig) error {
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url, nil)
	if err != nil {
		return err
	}
	req.Host = p.host
	req.Header.Set("User-Agent", "edgeplane-health-check")
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxCheckBody))
	resp.Body.Close()
	if resp.StatusCode < cfg.lo || resp.StatusCode > cfg.hi {
		return fmt.Errorf("status %d, want %d-%d", resp.StatusCode, cfg.lo, cfg.hi)
	}
	return err // a body cut short by the timeout fails the check too
}

// record counts one check's result and changes the target's status at a threshold. A
// target never seen healthy goes down at its first failure.
func (p *prober) record(cfg checkConfig, err error, rise, fall *int) {
	s := p.state
	if err != nil {
		msg := err.Error()
		s.lastErr.Store(&msg)
		*rise, *fall = 0, *fall+1
		if st := s.status.Load(); st == activeUnknown || st == activeUp && *fall >= cfg.fall {
			p.set(activeDown, 0)
			p.log.Warn("target failed its health checks: out of rotation", "target", p.host,
				"failures", *fall, "error", err)
		}
		return
	}
	s.lastErr.Store(nil)
	*fall, *rise = 0, *rise+1
	switch st := s.status.Load(); {
	case st == activeUnknown:
		p.set(activeUp, 0)
	case st == activeDown && *rise >= cfg.rise:
		p.set(activeUp, nanotime())
		p.log.Info("target passed its health checks: back in rotation", "target", p.host,
			"checks", *rise, "slow_start", cfg.slowStart)
	}
}

func (p *prober) set(status int32, upSince int64) {
	if upSince != 0 {
		p.state.upSince.Store(upSince)
	}
	p.state.status.Store(status)
	p.state.epoch.Add(1)
}
