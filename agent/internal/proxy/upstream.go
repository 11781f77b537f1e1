package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/metrics"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// upstream proxies one route's requests to its targets.
type upstream struct {
	name         string
	targets      []*target
	picker       *picker
	preserveHost bool
	request      headerRules
	response     headerRules
	forwarding   uint8 // fwd* bits: the forwarding headers the agent sets
	underscores  bool  // forward header names holding '_'
	timeouts     transportKey
	health       healthConfig
	retries      retryPolicy
	budget       *retryBudget
	limits       breakerLimits // per-target circuit breakers
	hash         *hashSource   // where LB_POLICY_HASH reads a request's key; nil for other policies
	overflowMsg  string        // body of a 503 for a request a circuit breaker refused
	metrics      *metrics.Route
	handler      *httputil.ReverseProxy // the net/http path (HTTP/2, upgrades, unusual requests)
	log          *slog.Logger
	p            *Proxy
}

// newRoute builds a route's serving state. Its targets are src's, or those of svc when src
// names a service; without targets it answers 503.
func (p *Proxy) newRoute(src *edgeplanev1.Route, svc *edgeplanev1.ServiceEndpoints) (*Route, error) {
	prefix := src.GetPathPrefix()
	if prefix == "" {
		prefix = "/"
	}
	rt := &Route{
		src: src, name: src.GetName(), prefix: prefix, priority: src.GetPriority(),
		methods: src.GetMethods(), tkey: keyFor(src.GetTimeouts()), metrics: p.metrics.Route(src.GetName()), svc: svc,
	}
	p.applyRouteLimits(rt, src)
	tgs := src.GetTargets()
	if src.GetService() != "" {
		tgs = svc.GetTargets()
	}
	if len(tgs) == 0 {
		return rt, nil
	}
	up, err := p.newUpstream(src, tgs, rt)
	if err != nil {
		return nil, err
	}
	rt.up = up
	return rt, nil
}

func (p *Proxy) newUpstream(src *edgeplanev1.Route, tgs []*edgeplanev1.Target, rt *Route) (*upstream, error) {
	u := &upstream{
		name:         src.GetName(),
		preserveHost: src.GetPreserveHost(),
		request:      newHeaderRules(src.GetRequestHeaders()),
		response:     newHeaderRules(src.GetResponseHeaders()),
		timeouts:     rt.tkey,
		underscores:  rt.underscores,
		health:       p.health.forRoute(src.GetOutlierDetection()),
		retries:      newRetryPolicy(src.GetRetryPolicy()),
		budget:       newRetryBudget(src.GetRetryPolicy()),
		limits:       newBreakerLimits(src.GetCircuitBreakers(), rt.tkey.connect),
		hash:         newHashSource(src.GetLoadBalancer()),
		overflowMsg:  overflowMessage(src.GetName()),
		metrics:      rt.metrics,
		log:          p.log.With("route", src.GetName()),
		p:            p,
	}
	u.forwarding = u.request.forwarding()
	var weights []uint32
	for _, tg := range tgs {
		t, err := newTarget(tg.GetUrl())
		if err != nil {
			return nil, fmt.Errorf("route %q: target %q: %w", src.GetName(), tg.GetUrl(), err)
		}
		t.pool = p.pools.get(poolKey{secure: t.secure, addr: t.addr, host: t.url.Hostname(), timeouts: rt.tkey})
		cfg, checked, err := newCheckConfig(src.GetHealthCheck())
		if err != nil {
			return nil, fmt.Errorf("route %q: %w", src.GetName(), err)
		}
		if checked {
			t.active = p.checks.stateFor(checkKey{route: u.name, url: t.raw, cfg: cfg})
		}
		u.targets = append(u.targets, t)
		weights = append(weights, tg.GetWeight())
	}
	if lb := src.GetLoadBalancer(); lb.GetPolicy() == edgeplanev1.LbPolicy_LB_POLICY_HASH &&
		lb.GetHashHeader() == "" && lb.GetHashCookie() == "" && !lb.GetHashClientIp() {
		return nil, fmt.Errorf("route %q: load_balancer: LB_POLICY_HASH without a key (hash_header, hash_cookie or hash_client_ip)", src.GetName())
	}
	u.picker = u.newPicker(weights, src)
	u.handler = u.reverseProxy(p.transports.get(rt.tkey))
	return u, nil
}

// flushDelay is how long the net/http path (HTTP/2, handed-over requests) may hold response
// bytes of a known length before writing them out. SSE and bodies of unknown length
// (chunked, until close) are written as they arrive; a known-length body is flushed within
// flushDelay of its first unflushed bytes, so a small answer goes out whole with the end of
// its stream (on HTTP/2 one write of HEADERS, DATA and END_STREAM, not two).
const flushDelay = 5 * time.Millisecond

func (u *upstream) reverseProxy(t *http.Transport) *httputil.ReverseProxy {
	rp := &httputil.ReverseProxy{
		Rewrite:       u.rewrite,
		Transport:     &retrier{up: u, tr: t},
		FlushInterval: flushDelay,
		BufferPool:    buffers,
		ErrorHandler:  u.fail,
		ErrorLog:      slog.NewLogLogger(u.log.Handler(), slog.LevelWarn),
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		delete(resp.Header, "Traceparent") // the agent returns its own span and trace id
		delete(resp.Header, traceIDHeader)
		u.response.apply(resp.Header)
		u.setAttempts(resp.Header, resp.Request)
		return nil
	}
	return rp
}

type targetKey struct{}

// rewrite builds the outgoing request of the net/http path. ReverseProxy has already
// removed hop-by-hop headers and the client's X-Forwarded-*; the agent removes Forwarded,
// X-Real-IP and the identity headers, then sets its own forwarding headers and the route's
// header rules.
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	t := pr.In.Context().Value(targetKey{}).(*target) // picked and admitted by serveHTTP; in pr.Out's context too
	rq, _ := pr.In.Context().Value(httpRequestKey{}).(*httpRequest)
	if rq != nil {
		rq.x.target = t
	}
	pr.SetURL(t.url)
	if u.preserveHost {
		pr.Out.Host = pr.In.Host
	}
	h := pr.Out.Header
	for _, k := range u.p.stripCanonical {
		delete(h, k)
	}
	if !u.underscores {
		for k := range h {
			if strings.IndexByte(k, '_') >= 0 {
				delete(h, k)
			}
		}
	}
	ip := clientIP(pr.In.RemoteAddr)
	secure := isSecure(pr.In)
	if u.forwarding&fwdFor != 0 && ip != "" {
		h["X-Forwarded-For"] = []string{ip}
	}
	if u.forwarding&fwdHost != 0 {
		h["X-Forwarded-Host"] = []string{pr.In.Host}
	}
	if u.forwarding&fwdProto != 0 {
		h["X-Forwarded-Proto"] = []string{scheme(secure)}
	}
	if u.forwarding&fwdForwarded != 0 {
		h["Forwarded"] = []string{string(appendForwarded(nil, forwardedFor(ip), pr.In.Host, secure))}
	}
	if u.forwarding&fwdRealIP != 0 && ip != "" {
		h["X-Real-Ip"] = []string{ip}
	}
	if rq != nil {
		h["Traceparent"] = []string{rq.sc.String()}
	} else {
		delete(h, "Traceparent")
	}
	u.request.apply(h)
}

func scheme(secure bool) string {
	if secure {
		return "https"
	}
	return "http"
}

// fail answers a request whose backend could not be reached: 504 on a timeout, else 502.
// The body names the route but not the backend, whose address stays internal.
func (u *upstream) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		w.WriteHeader(http.StatusBadGateway) // the client is gone; nobody reads this
		return
	}
	if status := bodyErrorStatus(r); status != 0 {
		refuseHTTP(w, r, status) // the client's fault, not the backend's
		return
	}
	status := http.StatusBadGateway
	if isTimeout(err) {
		status = http.StatusGatewayTimeout
	}
	u.setAttempts(w.Header(), r)
	if r.ProtoMajor == 1 && bodyUnread(r) {
		w.Header().Set("Connection", "close") // the rest of the body is no request
	}
	u.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream request failed",
		slog.String("host", r.Host), slog.String("path", r.URL.Path), slog.Any("error", err))
	writeError(w, status, u.failBody(status))
}

func (u *upstream) failBody(status int) string {
	if status == http.StatusGatewayTimeout {
		return fmt.Sprintf("edgeplane: route %q: upstream timed out\n", u.name)
	}
	return fmt.Sprintf("edgeplane: route %q: upstream is unavailable\n", u.name)
}

func writeError(w http.ResponseWriter, status int, body string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// failed records a failed exchange with t: passive health and the route's error counter.
func (u *upstream) failed(t *target, err error, now int64) {
	u.metrics.UpstreamError(kindOf(err))
	u.outlier(t, now, err)
}

// answered records t's answer with status: a success, or a failure for a 5xx when the
// route counts them. Hot path: one load when t had no failures.
func (u *upstream) answered(t *target, status int, now int64) {
	if status >= 500 && status <= 599 && u.health.count5xx {
		u.outlier(t, now, fmt.Errorf("status %d", status))
		return
	}
	t.succeeded()
}

// outlier counts a failure against t and ejects it at the threshold.
func (u *upstream) outlier(t *target, now int64, err error) {
	if cooldown := t.failed(u.health, now); cooldown != 0 {
		t.ejected(u.health.after, err)
		u.picker.rebuild(now)
		u.p.healthChanged()
		u.log.Warn("target ejected after consecutive failures", "target", t.host,
			"cooldown", time.Duration(cooldown), "error", err)
	}
}

func isDialError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "dial"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// bufferPool recycles 32 KiB copy buffers across all routes and both paths.
type bufferPool struct{ p sync.Pool }

var buffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }
