package node

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/agent/internal/frontend"
	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
)

// WorkerEnv tells a process it is worker number $WorkerEnv of the agent that started it.
const WorkerEnv = "EDGEPLANE_AGENT_WORKER"

// Time bounds of the link's calls (workerTimeouts' defaults). An Apply of a snapshot carries
// a whole config (100,000 routes build in about a second on a small machine), so it gets
// longer; a delta is small, and a worker that does not apply one in time (wedged, stopped)
// is replaced rather than left holding up the agent's Ack.
const (
	workerSnapshotTimeout = 2 * time.Minute
	workerDeltaTimeout    = 10 * time.Second
	workerCallTimeout     = 5 * time.Second
	// workerPingEvery is how often the agent checks that each worker answers on its link;
	// one that does not within workerCallTimeout (stopped, deadlocked, starved) is replaced
	// even while no config changes.
	workerPingEvery = 2 * time.Second
	// workerRestartMin and workerRestartMax space the restarts of a worker that keeps
	// exiting; one that ran for workerStable starts the schedule over.
	workerRestartMin = 100 * time.Millisecond
	workerRestartMax = 10 * time.Second
	workerStable     = time.Minute
)

// workerPool starts and keeps the agent's worker processes and forwards to them what the
// agent applies. mu orders what reaches the workers: a worker is started (sent the served
// snapshot and the telemetry settings) and every update is relayed under it, so a worker
// sees each revision exactly once, in order, from the snapshot it started with.
type workerPool struct {
	a       *Agent
	timeout workerTimeouts
	log     *slog.Logger
	n       int
	command func(index int) *exec.Cmd
	files   [][]*os.File // per worker: its HTTP socket, then its HTTPS socket (nil without HTTPS)

	mu sync.Mutex // held while talking to workers: starts, relays
	ts *edgeplanev1.TelemetrySettings
	// tsKick wakes the telemetry relay.
	tsKick chan struct{}

	lmu  sync.Mutex // guards live
	live map[int]*workerProc

	restarts atomic.Uint64
}

// workerTimeouts bound the link's calls; zero fields take the defaults above.
type workerTimeouts struct {
	snapshot, delta, call, ping time.Duration // ping: how often, not how long
}

// workerProc is one running worker process.
type workerProc struct {
	index  int
	cmd    *exec.Cmd
	link   linkClient
	exited chan struct{} // closed once the process has exited
}

func newWorkerPool(a *Agent, n int, command func(int) *exec.Cmd) *workerPool {
	t := a.cfg.workerTimeouts
	t.snapshot = cmp.Or(t.snapshot, workerSnapshotTimeout)
	t.delta = cmp.Or(t.delta, workerDeltaTimeout)
	t.call = cmp.Or(t.call, workerCallTimeout)
	t.ping = cmp.Or(t.ping, workerPingEvery)
	p := &workerPool{a: a, timeout: t, log: a.cfg.Logger.With("component", "workers"), n: n, command: command,
		live: map[int]*workerProc{}, tsKick: make(chan struct{}, 1)}
	a.metrics.Registry().MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "edgeplane_agent_worker_restarts_total",
			Help: "Worker processes started again after one exited or failed to apply a config.",
		}, func() float64 { return float64(p.restarts.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "edgeplane_agent_workers_serving",
			Help: "Worker processes serving (besides the agent itself).",
		}, func() float64 { return float64(len(p.serving())) }),
	)
	return p
}

// bind makes each worker's sockets: more SO_REUSEPORT sockets on the addresses the agent's
// listeners bound. The agent keeps them open for the workers' lives.
func (p *workerPool) bind() error {
	addrs := []string{p.a.frontend.HTTPAddr(), p.a.frontend.HTTPSAddr()}
	for range p.n {
		files := make([]*os.File, len(addrs))
		for j, addr := range addrs {
			if addr == "" {
				continue
			}
			f, err := frontend.BindReusePort(addr)
			if err != nil {
				p.closeFiles()
				return fmt.Errorf("worker socket on %s: %w", addr, err)
			}
			files[j] = f
		}
		p.files = append(p.files, files)
	}
	return nil
}

func (p *workerPool) closeFiles() {
	for _, files := range p.files {
		for _, f := range files {
			if f != nil {
				f.Close()
			}
		}
	}
	p.files = nil
}

// run keeps every worker running until ctx ends, then stops them (each drains for the
// agent's DrainTimeout) and returns once all have exited.
func (p *workerPool) run(ctx context.Context) error {
	defer p.closeFiles()
	var wg sync.WaitGroup
	for i := 1; i <= p.n; i++ {
		wg.Go(func() { p.keep(ctx, i) })
	}
	wg.Go(func() { p.relayTelemetry(ctx) })
	wg.Go(func() { p.relayHealth(ctx) })
	wg.Wait()
	return nil
}

// keep runs worker index, starting it again whenever it exits, until ctx ends.
func (p *workerPool) keep(ctx context.Context, index int) {
	delay := workerRestartMin
	for first := true; ; first = false {
		if !first {
			p.restarts.Add(1)
			if !backoff.Sleep(ctx, delay) {
				return
			}
			delay = min(2*delay, workerRestartMax)
		}
		began := time.Now()
		w, err := p.start(ctx, index)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			p.log.LogAttrs(ctx, slog.LevelError, "worker did not start; retrying", slog.Int("worker", index),
				slog.Any("error", err), slog.Duration("retry_in", delay))
			continue
		}
		if !p.watch(ctx, w) {
			p.stop(w)
			return
		}
		p.drop(w)
		p.log.LogAttrs(ctx, slog.LevelError, "worker exited; starting it again", slog.Int("worker", index),
			slog.String("status", w.cmd.ProcessState.String()), slog.Duration("retry_in", delay))
		if time.Since(began) > workerStable {
			delay = workerRestartMin
		}
	}
}

// watch waits until worker w exits (true) or ctx ends (false). Meanwhile it pings w every
// timeout.ping and kills it when a ping goes unanswered for timeout.call.
func (p *workerPool) watch(ctx context.Context, w *workerProc) bool {
	t := time.NewTicker(p.timeout.ping)
	defer t.Stop()
	for {
		select {
		case <-w.exited:
			return true
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, p.timeout.call)
		err := w.link.ping(cctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			p.log.LogAttrs(ctx, slog.LevelError, "worker does not answer; starting it again",
				slog.Int("worker", w.index), slog.Any("error", err))
			p.kill(w)
		}
	}
}

// start runs worker index: its process with its link and sockets, then, under mu, the
// telemetry settings and the served snapshot, and Start. The worker accepts connections
// only after that, so none of its clients sees an older config than the agent serves.
func (p *workerPool) start(ctx context.Context, index int) (*workerProc, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("worker link: %w", err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "worker-link"), os.NewFile(uintptr(fds[1]), "worker-link")
	defer theirs.Close()
	conn, err := net.FileConn(ours)
	ours.Close() // FileConn holds a duplicate
	if err != nil {
		return nil, fmt.Errorf("worker link: %w", err)
	}
	cmd := p.command(index)
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, WorkerEnv+"="+strconv.Itoa(index))
	cmd.ExtraFiles = append([]*os.File{theirs}, p.files[index-1]...)
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	cmd.SysProcAttr = workerProcAttr()
	if err := cmd.Start(); err != nil {
		conn.Close()
		return nil, err
	}
	w := &workerProc{index: index, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(w.exited)
	}()
	cc, err := dialLink(conn)
	if err != nil {
		conn.Close()
		p.kill(w)
		return nil, err
	}
	w.link = linkClient{cc}
	if err := p.bringUp(ctx, w); err != nil {
		p.kill(w)
		cc.Close()
		return nil, err
	}
	p.log.LogAttrs(ctx, slog.LevelInfo, "worker serving", slog.Int("worker", index), slog.Int("pid", cmd.Process.Pid))
	return w, nil
}

// bringUp sends a started worker what it needs to serve and tells it to start, under mu.
func (p *workerPool) bringUp(ctx context.Context, w *workerProc) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ts != nil {
		cctx, cancel := context.WithTimeout(ctx, p.timeout.call)
		err := w.link.telemetry(cctx, p.ts)
		cancel()
		if err != nil {
			return fmt.Errorf("telemetry settings: %w", err)
		}
	}
	if snap := p.a.servedSnapshot(); snap != nil {
		cctx, cancel := context.WithTimeout(ctx, p.timeout.snapshot)
		reply, err := w.link.apply(cctx, snap)
		cancel()
		if err != nil {
			return fmt.Errorf("snapshot of revision %d: %w", snap.GetRevision(), err)
		}
		if n := reply.GetNack(); n != nil {
			return fmt.Errorf("snapshot of revision %d refused: %s", snap.GetRevision(), n.GetError())
		}
	}
	if checks := p.a.proxy.ActiveChecks(); len(checks) > 0 {
		cctx, cancel := context.WithTimeout(ctx, p.timeout.call)
		err := w.link.health(cctx, reportOf(checks))
		cancel()
		if err != nil {
			return fmt.Errorf("health checks: %w", err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, p.timeout.call)
	defer cancel()
	if err := w.link.start(cctx); err != nil {
		return fmt.Errorf("start: %w", err)
	}
	p.lmu.Lock()
	p.live[w.index] = w
	p.lmu.Unlock()
	return nil
}

// relay hands u, which the agent has just applied, to every serving worker and returns once
// each has it live. A worker that fails to (it cannot: it runs the agent's own checks on the
// same input; but its process may be dying) is killed and started again from the agent's
// snapshot, which already holds u.
func (p *workerPool) relay(ctx context.Context, u *edgeplanev1.ConfigUpdate) {
	p.mu.Lock()
	defer p.mu.Unlock()
	limit := p.timeout.delta
	if u.GetSnapshot() {
		limit = p.timeout.snapshot
	}
	p.broadcast(ctx, limit, fmt.Sprintf("apply revision %d", u.GetRevision()), func(ctx context.Context, l linkClient) error {
		reply, err := l.apply(ctx, u)
		if err == nil && reply.GetNack() != nil {
			err = errors.New(reply.GetNack().GetError())
		}
		return err
	})
}

// broadcast calls every serving worker at once, each call bounded by limit, and waits for
// them all. A worker whose call fails is killed and started again (keep), from the agent's
// state then. The caller holds mu, so that what reaches the workers keeps its order.
func (p *workerPool) broadcast(ctx context.Context, limit time.Duration, what string, call func(context.Context, linkClient) error) {
	var wg sync.WaitGroup
	for _, w := range p.serving() {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, limit)
			defer cancel()
			if err := call(cctx, w.link); err != nil && ctx.Err() == nil {
				p.log.LogAttrs(ctx, slog.LevelError, "worker failed to "+what+"; starting it again",
					slog.Int("worker", w.index), slog.Any("error", err))
				p.kill(w)
			}
		})
	}
	wg.Wait()
}

// setTelemetry records the control plane's latest telemetry settings for the workers; the
// relay sends them without holding up the config stream.
func (p *workerPool) setTelemetry(ts *edgeplanev1.TelemetrySettings) {
	p.mu.Lock()
	p.ts = ts
	p.mu.Unlock()
	select {
	case p.tsKick <- struct{}{}:
	default:
	}
}

func (p *workerPool) relayTelemetry(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.tsKick:
		}
		p.mu.Lock()
		ts := p.ts
		p.broadcast(ctx, p.timeout.call, "take telemetry settings", func(ctx context.Context, l linkClient) error {
			return l.telemetry(ctx, ts)
		})
		p.mu.Unlock()
	}
}

// serving returns the workers that serve now.
func (p *workerPool) serving() []*workerProc {
	p.lmu.Lock()
	defer p.lmu.Unlock()
	out := make([]*workerProc, 0, len(p.live))
	for _, w := range p.live {
		out = append(out, w)
	}
	return out
}

// forget takes w out of the serving workers (if it is still the one serving its index).
func (p *workerPool) forget(w *workerProc) {
	p.lmu.Lock()
	if p.live[w.index] == w {
		delete(p.live, w.index)
	}
	p.lmu.Unlock()
}

// drop forgets an exited worker and closes its link.
func (p *workerPool) drop(w *workerProc) {
	p.forget(w)
	w.link.conn.Close()
}

// kill ends a worker at once; keep starts it again.
func (p *workerPool) kill(w *workerProc) {
	p.forget(w)
	_ = w.cmd.Process.Kill()
}

// stop asks a worker to drain and waits for it (DrainTimeout and a little more, then kills it).
func (p *workerPool) stop(w *workerProc) {
	p.forget(w)
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(p.a.cfg.DrainTimeout + 5*time.Second)
	defer t.Stop()
	select {
	case <-w.exited:
	case <-t.C:
		p.log.LogAttrs(context.Background(), slog.LevelWarn, "worker did not stop in time; killing it", slog.Int("worker", w.index))
		_ = w.cmd.Process.Kill()
		<-w.exited
	}
	w.link.conn.Close()
}

// gather reads every serving worker's metrics, for the agent's /metrics. A worker that does
// not answer in time is left out of this scrape.
func (p *workerPool) gather(ctx context.Context) []metrics.WorkerFamilies {
	ws := p.serving()
	out := make([]metrics.WorkerFamilies, len(ws))
	var wg sync.WaitGroup
	for i, w := range ws {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, p.timeout.call)
			defer cancel()
			b, err := w.link.gather(cctx)
			if err == nil {
				out[i].Families, err = metrics.Decode(b)
			}
			if err != nil {
				p.log.LogAttrs(ctx, slog.LevelWarn, "worker metrics unavailable", slog.Int("worker", w.index), slog.Any("error", err))
				return
			}
			out[i].Index = w.index
		})
	}
	wg.Wait()
	kept := out[:0]
	for _, f := range out {
		if f.Index != 0 {
			kept = append(kept, f)
		}
	}
	return kept
}

// healthRelayGap is how often the agent looks for new results of its active health checks
// to hand its workers: a worker takes a target out (or back) at most this long after the
// agent does.
const healthRelayGap = 200 * time.Millisecond

// relayHealth hands the workers the results of the agent's active health checks whenever
// they change, so that a host probes each target once and all its processes agree.
func (p *workerPool) relayHealth(ctx context.Context) {
	t := time.NewTicker(healthRelayGap)
	defer t.Stop()
	var last []proxy.ActiveCheck
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if tb := p.a.proxy.Table(); tb == nil || !tb.ActiveChecks() {
			if len(last) == 0 {
				continue
			}
		}
		cur := p.a.proxy.ActiveChecks()
		slices.SortFunc(cur, func(a, b proxy.ActiveCheck) int {
			return cmp.Or(strings.Compare(a.Route, b.Route), strings.Compare(a.Target, b.Target))
		})
		if slices.EqualFunc(cur, last, func(a, b proxy.ActiveCheck) bool { return a == b }) {
			continue
		}
		last = cur
		report := reportOf(cur)
		p.mu.Lock()
		p.broadcast(ctx, p.timeout.call, "take health check results", func(ctx context.Context, l linkClient) error {
			return l.health(ctx, report)
		})
		p.mu.Unlock()
	}
}

// reportOf and checksOf carry active health check results over the link as a
// TargetHealthReport: healthy is up, reason the last check's error, since the time the
// target last came back up.
func reportOf(checks []proxy.ActiveCheck) *edgeplanev1.TargetHealthReport {
	r := &edgeplanev1.TargetHealthReport{Targets: make([]*edgeplanev1.TargetHealth, len(checks))}
	for i, c := range checks {
		th := &edgeplanev1.TargetHealth{Route: c.Route, Target: c.Target, Healthy: c.Up, Reason: c.LastErr}
		if !c.UpSince.IsZero() {
			th.Since = timestamppb.New(c.UpSince)
		}
		r.Targets[i] = th
	}
	return r
}

func checksOf(r *edgeplanev1.TargetHealthReport) []proxy.ActiveCheck {
	out := make([]proxy.ActiveCheck, len(r.GetTargets()))
	for i, th := range r.GetTargets() {
		out[i] = proxy.ActiveCheck{Route: th.GetRoute(), Target: th.GetTarget(), Up: th.GetHealthy(), LastErr: th.GetReason()}
		if th.GetSince() != nil {
			out[i].UpSince = th.GetSince().AsTime()
		}
	}
	return out
}
