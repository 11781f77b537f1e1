package app

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Run serves until ctx ends, then stops gracefully: agent streams are ended (agents keep
// serving and reconnect elsewhere), in-flight calls finish within ShutdownTimeout, the last
// agent statuses are written and the Redis clients closed. It returns nil after a clean stop.
func (a *App) Run(ctx context.Context) error {
	defer a.closeAll()
	g, gctx := errgroup.WithContext(ctx)
	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBg()
	done := make(chan struct{})
	g.Go(func() error { return a.state.Run(bg) })
	g.Go(func() error { return a.store.RunDurable(bg, a.tail, a.log.With("component", "durable")) })
	g.Go(func() error { return a.pub.Run(bg) })
	a.runConsumers(bg, g)
	g.Go(func() error { return a.fanout.Run(bg) })
	g.Go(func() error { return a.watchAgents(bg, a.store) })
	g.Go(func() error { return a.pruneAgents(bg) })
	g.Go(func() error { return a.selfSign.Run(bg) })
	g.Go(func() error { return a.certs.Run(bg) })
	if a.docker != nil {
		g.Go(func() error { return a.docker.Run(bg) })
	}
	g.Go(func() error { a.markServing(gctx); return nil })
	g.Go(func() error { return a.grpc.Serve(a.grpcLn) })
	if a.dashPipe != nil {
		g.Go(func() error { return a.grpc.Serve(a.dashPipe.ln) })
	}
	srv := &http.Server{Handler: a.httpHandler(), ReadHeaderTimeout: 5 * time.Second}
	if a.httpLn != nil {
		g.Go(func() error {
			if err := srv.Serve(a.httpLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		a.stop(srv)
		stopBg()
		_ = a.tail.Close()     // unblocks the state's pending XREAD
		_ = a.tel.tail.Close() // and the consumers' XREADGROUP
		close(done)
		return nil
	})
	err := g.Wait()
	<-done
	if ctx.Err() != nil && (err == nil || errors.Is(err, context.Canceled)) {
		return nil
	}
	return err
}

func (a *App) markServing(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-a.state.Ready():
		a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
		a.log.InfoContext(ctx, "control plane serving", "grpc_addr", a.GRPCAddr(), "http_addr", a.HTTPAddr())
		if u := a.dashboardURL(); u != "" {
			a.log.InfoContext(ctx, "dashboard: open "+u, "url", u)
		}
	}
}

func (a *App) stop(srv *http.Server) {
	a.log.Info("control plane stopping")
	a.health.Shutdown()
	a.endAll()
	stopped := make(chan struct{})
	go func() { a.grpc.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(a.cfg.ShutdownTimeout):
		a.grpc.Stop()
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

func (a *App) closeAll() {
	for _, c := range []interface{ Close() error }{a.rdb, a.tail} {
		if c != nil {
			_ = c.Close()
		}
	}
	a.tel.close()
	if a.dashPipe != nil {
		_ = a.dashPipe.conn.Close()
	}
	if a.mini != nil {
		a.mini.Close()
	}
}

func (a *App) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.prom, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /ca.pem", a.serveCA)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.state.Live() {
			http.Error(w, "not ready: the config state is not following the store", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	a.mountDashboard(mux)
	return mux
}
