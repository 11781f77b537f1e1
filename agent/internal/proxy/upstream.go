package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// upstream proxies one route's requests to its targets.
type upstream struct {
	name         string
	balancer     *balancer
	preserveHost bool
	request      headerRules
	response     headerRules
	log          *slog.Logger
}

func newRoute(src *edgeplanev1.Route, tr *transports, log *slog.Logger) (*Route, error) {
	prefix := src.GetPathPrefix()
	if prefix == "" {
		prefix = "/"
	}
	rt := &Route{
		src: src, name: src.GetName(), prefix: prefix, priority: src.GetPriority(),
		methods: src.GetMethods(), tkey: keyFor(src.GetTimeouts()),
	}
	if len(src.GetTargets()) == 0 {
		rt.handler = noTargets(rt.name)
		return rt, nil
	}
	up, err := newUpstream(src, log)
	if err != nil {
		return nil, err
	}
	rt.handler = up.reverseProxy(tr.get(rt.tkey))
	return rt, nil
}

func newUpstream(src *edgeplanev1.Route, log *slog.Logger) (*upstream, error) {
	var urls []*url.URL
	var weights []uint32
	for _, t := range src.GetTargets() {
		u, err := url.Parse(t.GetUrl())
		if err != nil {
			return nil, fmt.Errorf("route %q: target %q: %w", src.GetName(), t.GetUrl(), err)
		}
		urls = append(urls, u)
		weights = append(weights, t.GetWeight())
	}
	return &upstream{
		name:         src.GetName(),
		balancer:     newBalancer(urls, weights),
		preserveHost: src.GetPreserveHost(),
		request:      newHeaderRules(src.GetRequestHeaders()),
		response:     newHeaderRules(src.GetResponseHeaders()),
		log:          log.With("route", src.GetName()),
	}, nil
}

func (u *upstream) reverseProxy(t http.RoundTripper) *httputil.ReverseProxy {
	rp := &httputil.ReverseProxy{
		Rewrite:      u.rewrite,
		Transport:    t,
		BufferPool:   buffers,
		ErrorHandler: u.fail,
		ErrorLog:     slog.NewLogLogger(u.log.Handler(), slog.LevelWarn),
	}
	if !u.response.empty() {
		rp.ModifyResponse = func(resp *http.Response) error {
			u.response.apply(resp.Header)
			return nil
		}
	}
	return rp
}

// rewrite is the hot path's per-request rewrite. ReverseProxy has already removed hop-by-hop
// and client-sent X-Forwarded-*/Forwarded headers; SetXForwarded sets fresh ones.
func (u *upstream) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(u.balancer.pick())
	pr.SetXForwarded()
	if u.preserveHost {
		pr.Out.Host = pr.In.Host
	}
	u.request.apply(pr.Out.Header)
}

// fail answers a request whose backend could not be reached: 504 on a timeout, else 502.
// The body names the route but not the backend, whose address stays internal.
func (u *upstream) fail(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil {
		w.WriteHeader(http.StatusBadGateway) // the client is gone; nobody reads this
		return
	}
	status, what := http.StatusBadGateway, "is unavailable"
	if isTimeout(err) {
		status, what = http.StatusGatewayTimeout, "timed out"
	}
	u.log.LogAttrs(r.Context(), slog.LevelWarn, "upstream request failed",
		slog.String("host", r.Host), slog.String("path", r.URL.Path), slog.Any("error", err))
	http.Error(w, fmt.Sprintf("edgeplane: route %q: upstream %s", u.name, what), status)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// noTargets serves a route that has no backend the agent can reach (such as a Docker
// service the control plane has not resolved to targets).
func noTargets(name string) http.Handler {
	body := fmt.Sprintf("edgeplane: route %q has no targets", name)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, body, http.StatusServiceUnavailable)
	})
}

// bufferPool recycles ReverseProxy's 32 KiB copy buffers across all routes.
type bufferPool struct{ p sync.Pool }

var buffers = &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }
