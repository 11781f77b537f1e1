package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// The files a worker inherits (os/exec's ExtraFiles, from descriptor 3).
const (
	workerLinkFD  = 3
	workerHTTPFD  = 4
	workerHTTPSFD = 5 // only when the agent has an HTTPS listener
)

// RunWorker runs this process as a worker of the agent that started it (Config.Workers):
// cfg is that agent's, from the same flags. It serves the inherited sockets with what the
// agent sends over the inherited link, publishes its request records itself, and never
// talks to the control plane or writes the config cache. It returns once ctx ends or the
// link breaks (the agent is gone), after draining in-flight requests for DrainTimeout.
func RunWorker(ctx context.Context, cfg Config, index int) error {
	cfg.CacheDir = ""
	if cfg.Logger != nil {
		cfg.Logger = cfg.Logger.With("worker", index)
	}
	a, err := newAgent(cfg, true)
	if err != nil {
		return err
	}
	defer a.proxy.Close()
	a.ownTelemetry.Store(true) // the agent relays which settings win
	linkFile := os.NewFile(workerLinkFD, "worker-link")
	link, err := net.FileConn(linkFile)
	linkFile.Close()
	if err != nil {
		return fmt.Errorf("worker link (descriptor %d): %w", workerLinkFD, err)
	}
	httpLn, err := inherited(workerHTTPFD, "HTTP")
	if err != nil {
		return err
	}
	var httpsLn net.Listener
	if cfg.HTTPSAddr != "" {
		if httpsLn, err = inherited(workerHTTPSFD, "HTTPS"); err != nil {
			return err
		}
	}
	if err := a.frontend.Adopt(httpLn, httpsLn); err != nil {
		return err
	}
	if _, port, err := net.SplitHostPort(a.HTTPSAddr()); err == nil {
		a.proxy.SetHTTPSPort(port)
	}

	w := &workerSide{a: a, started: make(chan struct{})}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(maxLinkMessage), grpc.MaxSendMsgSize(maxLinkMessage))
	srv.RegisterService(&workerServiceDesc, w)
	ll := newLinkListener(link)
	go func() { _ = srv.Serve(ll) }()
	defer srv.Stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-ll.done:
			a.log.LogAttrs(ctx, slog.LevelInfo, "link to the agent closed; stopping")
			cancel()
		case <-ctx.Done():
		}
	}()
	select {
	case <-w.started:
	case <-ctx.Done():
		return nil
	}
	close(a.ready)
	a.log.LogAttrs(ctx, slog.LevelDebug, "worker serving", slog.String("http_addr", a.Addr()), slog.Int64("revision", a.Revision()))
	g, gctx := errgroup.WithContext(ctx)
	publishing := make(chan struct{})
	g.Go(func() error { return a.runTelemetry(gctx, publishing) })
	<-publishing // the settings relayed before Start are in use: every request is recorded
	g.Go(a.frontend.Serve)
	g.Go(func() error { return a.targets.run(gctx) }) // this process's view, for its gauge
	g.Go(func() error {
		<-gctx.Done()
		dctx, dcancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
		defer dcancel()
		if err := a.frontend.Shutdown(dctx); err != nil {
			a.log.LogAttrs(dctx, slog.LevelWarn, "drain timed out; closed remaining connections")
		}
		return nil
	})
	return g.Wait()
}

// inherited returns the listening socket at descriptor fd.
func inherited(fd uintptr, what string) (net.Listener, error) {
	f := os.NewFile(fd, what)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("worker's %s socket (descriptor %d): %w", what, fd, err)
	}
	return ln, nil
}

// workerSide is the worker's end of the link.
type workerSide struct {
	a         *Agent
	mu        sync.Mutex // one Apply at a time (the agent sends them in order)
	startOnce sync.Once
	started   chan struct{}
}

// apply applies an update the agent has applied. A delta the worker already has (its
// snapshot was taken after the agent applied it) is acknowledged without applying it again.
func (w *workerSide) apply(ctx context.Context, u *edgeplanev1.ConfigUpdate) (*edgeplanev1.AgentMessage, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	serving, hash := (*applier)(w.a).Serving()
	if !u.GetSnapshot() && u.GetBaseRevision() != serving && u.GetRevision() <= serving {
		return ack(serving, hash), nil
	}
	hash, err := (*applier)(w.a).Apply(ctx, u)
	if err != nil {
		w.a.log.LogAttrs(ctx, slog.LevelError, "config the agent applied was refused", slog.Int64("revision", u.GetRevision()), slog.Any("error", err))
		return nack(u.GetRevision(), err), nil
	}
	return ack(u.GetRevision(), hash), nil
}

func (w *workerSide) telemetry(_ context.Context, ts *edgeplanev1.TelemetrySettings) error {
	w.a.offerTelemetry(ts)
	return nil
}

func (w *workerSide) health(_ context.Context, r *edgeplanev1.TargetHealthReport) error {
	w.a.proxy.FollowActiveChecks(checksOf(r))
	return nil
}

func (w *workerSide) start(context.Context) error {
	w.startOnce.Do(func() { close(w.started) })
	return nil
}

func (w *workerSide) gather(context.Context) ([]byte, error) { return w.a.metrics.Encode() }

func (w *workerSide) ping(context.Context) error { return nil }

func ack(revision int64, hash string) *edgeplanev1.AgentMessage {
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{Revision: revision, ConfigHash: hash}}}
}

func nack(revision int64, err error) *edgeplanev1.AgentMessage {
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Nack{Nack: &edgeplanev1.Nack{Revision: revision, Error: err.Error()}}}
}
