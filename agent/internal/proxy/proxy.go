// Package proxy is the agent's HTTP reverse proxy: an immutable routing Table built from a
// config revision, and a Proxy that serves requests with whichever Table is current.
//
// Requests arrive by two paths. The fast path (a Conn from NewConn, run by the frontend)
// speaks HTTP/1.1 itself on a client connection and to pooled backend connections,
// allocating almost nothing per request. Everything it does not handle (HTTP/2, upgrades such as WebSocket, chunked
// request bodies, Expect, HTTP/1.0, unusual syntax) goes to ServeHTTP, a net/http handler
// built on httputil.ReverseProxy. Both paths route, rewrite headers, balance, eject and
// retry the same way and answer errors with the same bodies.
//
// Tables are built off the hot path (when a config arrives) and swapped in atomically, so
// requests never wait for a config change and never see a half-built table; a request
// finishes on the Table it started with.
package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	"github.com/edgeplane/edgeplane/agent/internal/routeset"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// Defaults for zero Config fields.
const (
	DefaultEjectAfter     = 5
	DefaultEjectFor       = 10 * time.Second
	DefaultEjectMax       = 5 * time.Minute
	DefaultPanicThreshold = 50
)

// Config configures a Proxy. Zero fields take the defaults.
type Config struct {
	// Logger receives upstream errors. Nil discards.
	Logger *slog.Logger
	// Metrics receives per-route request metrics. Nil uses a private set.
	Metrics *metrics.Metrics
	// StripHeaders are request headers removed before forwarding (see DefaultStripHeaders,
	// used when nil). X-Forwarded-*, Forwarded and X-Real-IP are always replaced.
	StripHeaders []string
	// EjectAfter consecutive connection failures eject a target for EjectFor, doubled on
	// each ejection after the first up to EjectMax (defaults DefaultEjectAfter,
	// DefaultEjectFor, DefaultEjectMax).
	EjectAfter int
	EjectFor   time.Duration
	EjectMax   time.Duration
	// PanicThreshold is the percentage of a route's targets (by count) that must be healthy
	// for ejected ones to be left out; below it the route sends to all of them (default
	// DefaultPanicThreshold; negative: only when none is healthy).
	PanicThreshold int
	// HTTPSPort is the port HTTP→HTTPS redirects point to; "" or "443" leaves it out of
	// the Location. SetHTTPSPort changes it.
	HTTPSPort string
	// NodeID names the agent in request records.
	NodeID string
	// Limits bound what clients control; zero fields take the defaults.
	Limits Limits
	// FollowChecks runs no active health check probers: the targets' health comes from
	// FollowActiveChecks (a worker process following its agent's probers).
	FollowChecks bool
}

// Proxy serves requests with the current Table. ServeHTTP and NewConn are safe for
// concurrent use; Build and Swap must be called from one goroutine at a time.
type Proxy struct {
	log            *slog.Logger
	metrics        *metrics.Metrics
	noRoute        *metrics.Route
	table          atomic.Pointer[Table]
	transports     *transports // used by Build only
	pools          *pools      // used by Build only
	replaced       int         // routes replaced or removed by incremental builds since the last sweep
	health         healthConfig
	checks         *checks         // active health check probers, matched to the served Table by Swap
	strip          map[string]bool // lower-case names never forwarded from clients
	reqActions     map[string]uint8
	stripCanonical []string
	httpsPort      string
	defaultCert    *tls.Certificate
	upgrades       tracker // connections taken over by upgrades (WebSocket)
	node           string
	tracing        atomic.Pointer[tracing] // nil: no request records
	limits         Limits
	healthKick     chan struct{} // see HealthChanged
}

// New returns a Proxy with no Table: it answers every request with 503 until Swap. It
// generates the self-signed default certificate.
func New(cfg Config) (*Proxy, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := cfg.Metrics
	if m == nil {
		m = metrics.New()
	}
	strip := cfg.StripHeaders
	if strip == nil {
		strip = DefaultStripHeaders
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, fmt.Errorf("generating the default certificate: %w", err)
	}
	p := &Proxy{
		log: log, metrics: m, noRoute: m.Route(metrics.NoRoute), transports: newTransports(), pools: newPools(),
		health: cfg.healthConfig(), checks: newChecks(log, cfg.FollowChecks),
		strip: stripSet(strip), defaultCert: cert, node: cfg.NodeID, limits: cfg.Limits.withDefaults(),
		healthKick: make(chan struct{}, 1),
	}
	p.reqActions = requestActions(p.strip)
	for k := range p.strip {
		p.stripCanonical = append(p.stripCanonical, http.CanonicalHeaderKey(k))
	}
	p.SetHTTPSPort(cfg.HTTPSPort)
	p.upgrades.init()
	return p, nil
}

// SetHTTPSPort sets the port HTTP→HTTPS redirects point to (once the HTTPS listener is
// bound). Call it before serving.
func (p *Proxy) SetHTTPSPort(port string) {
	p.httpsPort = ""
	if port != "" && port != "443" {
		p.httpsPort = ":" + port
	}
}

// Build returns a Table for s, reusing the state of the current Table for routes and
// certificates whose pointers are unchanged (so passive health and backend connections
// survive config changes). It does not change what is served. An error (a target URL or a
// certificate the agent cannot use) names the route or certificate.
func (p *Proxy) Build(s *routeset.Set) (*Table, error) { return p.build(s) }

// Swap makes t the Table that serves requests and returns the previous one (nil at first).
// Requests already routed finish on the Table they started with. Metrics of routes t no
// longer has are dropped. The active health checks become t's: probers of routes and
// targets t no longer checks are stopped (Swap waits for them), new ones started.
func (p *Proxy) Swap(t *Table) *Table {
	old := p.table.Swap(t)
	if (old != nil && old.checked > 0) || (t != nil && t.checked > 0) {
		p.checks.reconcile(t) // else no prober runs or should
	}
	switch {
	case old == nil || t == nil:
	case t.delta && t.from == old.revision:
		for _, name := range t.removed {
			p.metrics.Forget(name)
		}
	default:
		for name := range old.byName.All() {
			if t.route(name) == nil {
				p.metrics.Forget(name)
			}
		}
	}
	return old
}

// Close stops the active health checks and waits for their goroutines. The Proxy keeps
// serving its Table, unchecked; later Swaps start no checks. Call it when the agent stops.
func (p *Proxy) Close() { p.checks.close() }

// Table returns the Table serving requests, or nil.
func (p *Proxy) Table() *Table { return p.table.Load() }

type secureKey struct{}

// WithSecure marks ctx as belonging to a connection that arrived over TLS; the listener
// sets it for TLS connections it hands to net/http as plain net.Conns.
func WithSecure(ctx context.Context) context.Context {
	return context.WithValue(ctx, secureKey{}, true)
}

func isSecure(r *http.Request) bool {
	return r.TLS != nil || r.Context().Value(secureKey{}) != nil
}

// ServeHTTP is the net/http path: it answers ACME challenges, routes r by host, path and
// method, redirects to HTTPS where the route asks for it, and proxies r to the route's
// backend.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rq := &httpRequest{sc: span([]byte(r.Header.Get(tracectx.Header)), runtimeRand{})}
	rq.x.bytesIn = r.ContentLength // updated as the body is read when unknown
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = &countingBody{ReadCloser: r.Body, rq: rq, known: r.ContentLength >= 0}
	}
	h := w.Header()
	h[traceIDHeader] = []string{rq.sc.TraceIDString()}
	h["Traceparent"] = []string{rq.sc.String()}
	sw := &statusWriter{ResponseWriter: w, rq: rq,
		dw: deadlineWriter{rc: http.NewResponseController(w), timeout: p.limits.WriteTimeout}}
	sw.dw.extend() // net/http may write (100 Continue) before the response
	r = r.WithContext(context.WithValue(r.Context(), httpRequestKey{}, rq))
	m := p.serveHTTP(sw, r, rq)
	d := time.Since(start)
	status := sw.status()
	m.Observe(status, d)
	if tr := p.tracing.Load(); tr != nil {
		rq.x.status, rq.x.duration, rq.x.bytesOut = status, d, sw.written
		rq.x.bytesIn = max(rq.x.bytesIn, 0)
		tr.record(p, &rq.sc, r.Host, r.Method, r.URL.Path, clientIP(r.RemoteAddr), &rq.x, nil)
	}
}

func (p *Proxy) serveHTTP(w *statusWriter, r *http.Request, rq *httpRequest) *metrics.Route {
	t := p.table.Load()
	if t == nil {
		writeError(w, http.StatusServiceUnavailable, noConfigBody)
		return p.noRoute
	}
	rq.x.revision = t.revision
	if status := p.checkRequest(r); status != 0 {
		refuseHTTP(w, r, status)
		return p.noRoute
	}
	raw := rawPath(r)
	if !strings.HasPrefix(raw, "/") {
		raw = "/" + raw // "*" of OPTIONS, an absolute-form target without a path
	}
	res := t.resolve(r.Host, []byte(raw), r.Method, &pathBufs{})
	if res.status != 0 {
		refuseHTTP(w, r, res.status)
		return p.noRoute
	}
	setPath(r, res.path)
	if key, ok := t.challenge(r.URL.Path); ok {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, key)
		return p.noRoute
	}
	rt := res.rt
	if rt == nil {
		writeError(w, http.StatusNotFound, notFoundBody(hostname(r.Host), r.URL.Path))
		return p.noRoute
	}
	rq.x.route = rt
	p.serveRoute(w, r, rt)
	return rt.metrics
}

// serveRoute serves r on the route it matched.
func (p *Proxy) serveRoute(w *statusWriter, r *http.Request, rt *Route) {
	if r.ContentLength > rt.maxBody {
		refuseHTTP(w, r, http.StatusRequestEntityTooLarge)
		return
	}
	r = guard(r, w.dw.rc, p.limits.BodyTimeout, rt.maxBody)
	upgrade := r.Header.Get("Upgrade") != "" && r.ProtoMajor == 1
	if upgrade && !rt.allowsUpgrade(r.Header.Get("Upgrade")) {
		r.Header.Del("Upgrade") // proxied as a plain request; the backend cannot switch
		r.Header.Del("Http2-Settings")
		upgrade = false
	}
	switch {
	case rt.redirect && !isSecure(r) && !isChallenge(r.URL.Path):
		http.Redirect(w, r, p.httpsURL(r.Host, r.URL.RequestURI()), redirectStatus(r.Method))
	case rt.up == nil:
		writeError(w, http.StatusServiceUnavailable, noTargetsBody(rt.name))
	case upgrade:
		rt.up.serveHTTP(&hijackWriter{statusWriter: w, t: &p.upgrades}, r)
	default:
		rt.up.serveHTTP(w, r)
	}
}

// refuseHTTP answers a request refused for its syntax or size, closing an HTTP/1
// connection.
func refuseHTTP(w http.ResponseWriter, r *http.Request, status int) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
	}
	writeError(w, status, refusalBody(status))
}

const noConfigBody = "edgeplane: no configuration loaded yet\n"

// refusalBody is the body of a request refused for its syntax or size.
func refusalBody(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "edgeplane: request body too large\n"
	case http.StatusRequestURITooLong:
		return "edgeplane: request target too long\n"
	case http.StatusRequestHeaderFieldsTooLarge:
		return "edgeplane: request header too large\n"
	}
	return "edgeplane: bad request\n"
}

func notFoundBody(host, path string) string {
	if path == "" {
		path = "/"
	}
	return fmt.Sprintf("edgeplane: no route for host %q path %q\n", host, path)
}

func noTargetsBody(route string) string {
	return fmt.Sprintf("edgeplane: route %q has no targets\n", route)
}

// acmePrefix is where ACME HTTP-01 validation requests arrive.
const acmePrefix = "/.well-known/acme-challenge/"

// challenge returns the key authorization for an ACME HTTP-01 validation path.
func (t *Table) challenge(path string) (string, bool) {
	if len(t.challenges) == 0 {
		return "", false
	}
	token, ok := challengeToken(path)
	if !ok {
		return "", false
	}
	key, ok := t.challenges[token]
	return key, ok
}

// isChallenge reports whether a normalized path has the exact shape of an ACME HTTP-01
// validation path, the one kind of plain-HTTP request a redirecting route still serves.
func isChallenge(path string) bool {
	_, ok := challengeToken(path)
	return ok
}

// httpsURL is the redirect target for a plain-HTTP request: the same host (without its
// port) on the HTTPS listener's port, the same path and query.
func (p *Proxy) httpsURL(host, requestURI string) string {
	h := hostname(host)
	if strings.Contains(h, ":") {
		h = "[" + h + "]"
	}
	return "https://" + h + p.httpsPort + requestURI
}

// redirectStatus is 301 for GET and HEAD, else 308 (which keeps the method and body).
func redirectStatus(method string) int {
	if method == http.MethodGet || method == http.MethodHead {
		return http.StatusMovedPermanently
	}
	return http.StatusPermanentRedirect
}
