package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"golang.org/x/sync/errgroup"
)

// Run serves the cached config (if any) at once, binds the proxy and metrics listeners,
// closes Ready, and keeps the config stream open until ctx is done. It then stops
// accepting, drains in-flight requests for up to DrainTimeout (closing what is left,
// WebSocket connections included), closes the stream and returns nil. It returns an error
// if a listener cannot be bound or stops serving. Run must be called at most once.
func (a *Agent) Run(ctx context.Context) error {
	defer func() {
		a.proxy.Close() // stops the active health checks' probers
		if a.conn != nil {
			a.conn.Close()
		}
	}()
	if a.cfg.CacheDir != "" {
		if err := os.MkdirAll(a.cfg.CacheDir, 0o700); err != nil {
			return fmt.Errorf("cache directory: %w", err)
		}
	}
	a.loadCache(ctx)
	metricsLn, err := a.listen()
	if err != nil {
		return err
	}
	if a.pool != nil {
		if err := a.pool.bind(); err != nil {
			a.frontend.Shutdown(context.Background())
			metricsLn.Close()
			return err
		}
	}
	close(a.ready)
	a.log.LogAttrs(ctx, slog.LevelInfo, "agent started", slog.String("node_id", a.cfg.NodeID),
		slog.String("http_addr", a.Addr()), slog.String("https_addr", a.HTTPSAddr()),
		slog.String("metrics_addr", a.metricsAddr), slog.Bool("proxy_protocol", a.cfg.ProxyProtocol),
		slog.String("control_plane", a.cfg.ControlPlane), slog.Int64("revision", a.Revision()))

	metricsSrv := &http.Server{
		Handler:           a.health(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(a.frontend.Serve)
	g.Go(func() error {
		if err := metricsSrv.Serve(metricsLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		if err := a.connect(gctx); err != nil {
			return err
		}
		return a.stream.Run(gctx)
	})
	g.Go(func() error { return a.runTelemetry(gctx, nil) })
	if a.cache != nil {
		g.Go(func() error { a.cache.Run(gctx); return nil })
	}
	g.Go(func() error { return a.targets.run(gctx) })
	if a.pool != nil {
		g.Go(func() error { return a.pool.run(gctx) })
	}
	g.Go(func() error {
		<-gctx.Done()
		a.shutdown(metricsSrv)
		return nil
	})
	return g.Wait()
}

func (a *Agent) listen() (metricsLn net.Listener, err error) {
	if err := a.frontend.Listen(); err != nil {
		return nil, err
	}
	if _, port, err := net.SplitHostPort(a.HTTPSAddr()); err == nil {
		a.proxy.SetHTTPSPort(port)
	}
	metricsLn, err = net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		a.frontend.Shutdown(context.Background())
		return nil, fmt.Errorf("metrics listener: %w", err)
	}
	a.metricsAddr = metricsLn.Addr().String()
	return metricsLn, nil
}

// shutdown drains the proxy's connections within DrainTimeout, then stops the metrics
// server.
func (a *Agent) shutdown(metricsSrv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
	defer cancel()
	a.log.LogAttrs(ctx, slog.LevelInfo, "draining in-flight requests", slog.Duration("timeout", a.cfg.DrainTimeout))
	if err := a.frontend.Shutdown(ctx); err != nil {
		a.log.LogAttrs(ctx, slog.LevelWarn, "drain timed out; closed remaining connections")
	}
	metricsSrv.Close()
}
