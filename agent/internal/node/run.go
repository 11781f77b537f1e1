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
// accepting, drains in-flight requests for up to DrainTimeout, closes the stream and
// returns nil. It returns an error if a listener cannot be bound or stops serving.
// Run must be called at most once.
func (a *Agent) Run(ctx context.Context) error {
	defer a.conn.Close()
	if a.cfg.CacheDir != "" {
		if err := os.MkdirAll(a.cfg.CacheDir, 0o700); err != nil {
			return fmt.Errorf("cache directory: %w", err)
		}
	}
	a.loadCache(ctx)
	proxyLn, metricsLn, err := a.listen()
	if err != nil {
		return err
	}
	close(a.ready)
	a.log.LogAttrs(ctx, slog.LevelInfo, "agent started", slog.String("node_id", a.cfg.NodeID),
		slog.String("http_addr", a.addr), slog.String("metrics_addr", a.metricsAddr),
		slog.String("control_plane", a.cfg.ControlPlane), slog.Int64("revision", a.Revision()))

	proxySrv := a.server(a.proxy, "proxy")
	metricsSrv := a.server(a.health(), "metrics")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return serve(proxySrv, proxyLn, "proxy") })
	g.Go(func() error { return serve(metricsSrv, metricsLn, "metrics") })
	g.Go(func() error { return a.stream.Run(gctx) })
	g.Go(func() error {
		<-gctx.Done()
		return a.shutdown(proxySrv, metricsSrv)
	})
	return g.Wait()
}

func (a *Agent) listen() (proxyLn, metricsLn net.Listener, err error) {
	proxyLn, err = net.Listen("tcp", a.cfg.HTTPAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("proxy listener: %w", err)
	}
	metricsLn, err = net.Listen("tcp", a.cfg.MetricsAddr)
	if err != nil {
		proxyLn.Close()
		return nil, nil, fmt.Errorf("metrics listener: %w", err)
	}
	a.addr, a.metricsAddr = proxyLn.Addr().String(), metricsLn.Addr().String()
	return proxyLn, metricsLn, nil
}

func (a *Agent) server(h http.Handler, name string) *http.Server {
	log := a.log.Handler().WithAttrs([]slog.Attr{slog.String("server", name)})
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log, slog.LevelDebug),
	}
}

func serve(srv *http.Server, ln net.Listener, name string) error {
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("%s server: %w", name, err)
	}
	return nil
}

// shutdown stops both servers, letting in-flight proxied requests finish within DrainTimeout.
func (a *Agent) shutdown(proxySrv, metricsSrv *http.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.cfg.DrainTimeout)
	defer cancel()
	a.log.LogAttrs(ctx, slog.LevelInfo, "draining in-flight requests", slog.Duration("timeout", a.cfg.DrainTimeout))
	err := proxySrv.Shutdown(ctx)
	metricsSrv.Close()
	if err != nil {
		proxySrv.Close()
		a.log.LogAttrs(ctx, slog.LevelWarn, "drain timed out; closed remaining connections")
	}
	return nil
}
