// Package proxy is the agent's HTTP reverse proxy: an immutable routing Table built from a
// route set, and a Proxy handler that serves requests with whichever Table is current.
//
// Tables are built off the hot path (when a config arrives) and swapped in atomically, so
// requests never wait for a config change and never see a half-built table.
package proxy

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Config configures a Proxy.
type Config struct {
	// Logger receives upstream errors. Nil discards.
	Logger *slog.Logger
}

// Proxy is an http.Handler that routes each request with the current Table. ServeHTTP is
// safe for concurrent use; Build and Swap must be called from one goroutine at a time.
type Proxy struct {
	log        *slog.Logger
	table      atomic.Pointer[Table]
	transports *transports // used by Build only
}

// New returns a Proxy with no Table: it answers every request with 503 until Swap.
func New(cfg Config) *Proxy {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Proxy{log: log, transports: newTransports()}
}

// Build returns a Table for routes, reusing the per-route state of the current Table for
// routes whose *edgeplanev1.Route pointer is unchanged. It does not change what is served.
func (p *Proxy) Build(routes []*edgeplanev1.Route) (*Table, error) {
	return build(routes, p.table.Load(), p.transports, p.log)
}

// Swap makes t the Table that serves requests and returns the previous one (nil at first).
// Requests already routed finish on the Table they started with.
func (p *Proxy) Swap(t *Table) *Table { return p.table.Swap(t) }

// Table returns the Table serving requests, or nil.
func (p *Proxy) Table() *Table { return p.table.Load() }

// ServeHTTP routes r by host, path and method and proxies it to the route's backend.
// This is the hot path: one atomic load and a few map lookups before the backend call.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	t := p.table.Load()
	if t == nil {
		http.Error(w, "edgeplane: no configuration loaded yet", http.StatusServiceUnavailable)
		return
	}
	rt := t.Match(r.Host, r.URL.Path, r.Method)
	if rt == nil {
		notFound(w, r)
		return
	}
	rt.handler.ServeHTTP(w, r)
}

func notFound(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "" {
		path = "/"
	}
	http.Error(w, fmt.Sprintf("edgeplane: no route for host %q path %q", hostname(r.Host), path), http.StatusNotFound)
}
