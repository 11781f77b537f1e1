package node

import (
	"fmt"
	"net/http"
)

// health serves the metrics listener: /healthz and /readyz answer 200 once a config (from
// the cache or the control plane) is being served, and 503 before. Prometheus metrics will
// be added here.
func (a *Agent) health() http.Handler {
	mux := http.NewServeMux()
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
	return mux
}
