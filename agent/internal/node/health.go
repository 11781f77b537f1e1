package node

import (
	"context"
	"fmt"
	"net/http"
	"net/http/pprof"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
)

// health serves the metrics listener: /metrics (Prometheus), and /healthz and /readyz,
// which answer 200 once a config (from the cache or the control plane) is being served and
// 503 before. With Config.Pprof, /debug/pprof/ too.
func (a *Agent) health() http.Handler {
	mux := http.NewServeMux()
	if a.pool != nil {
		mux.Handle("GET /metrics", a.metrics.HandlerWith(func() []metrics.WorkerFamilies {
			return a.pool.gather(context.Background())
		}))
	} else {
		mux.Handle("GET /metrics", a.metrics.Handler())
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.config.Load() == nil {
			http.Error(w, "no config loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		s := a.config.Load()
		if s == nil {
			http.Error(w, "no config loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "ready: revision %d, %d routes\n", s.Revision(), s.Len())
	})
	if a.cfg.Pprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}
