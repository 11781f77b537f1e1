// Package metrics holds the agent's Prometheus metrics and serves them.
//
// The proxy's per-request cost is kept to a few atomic adds: a Route's counters and
// histogram are resolved once, when a routing table is built, so a request never looks up a
// label value.
package metrics

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NoRoute is the route label of requests that matched no route (404s, ACME challenges,
// requests before any config).
const NoRoute = "(none)"

// Upstream error kinds, the "kind" label of edgeplane_agent_upstream_errors_total.
const (
	ErrConnect = iota // the backend could not be reached (refused, unreachable, connect timeout)
	ErrTimeout        // the backend did not answer within the response timeout
	ErrBroken         // the connection broke mid-exchange (reset, closed early, bad response)
	numErrKinds
)

var errKindNames = [numErrKinds]string{"connect", "timeout", "broken"}

// Metrics is the agent's set of metrics on its own registry. Its methods are safe for
// concurrent use.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	upstream  *prometheus.CounterVec
	panics    *prometheus.CounterVec
	overflow  *prometheus.CounterVec
	retry     retryVecs
	targets   *prometheus.GaugeVec
	revision  prometheus.Gauge
	connected prometheus.Gauge
	conns     *prometheus.GaugeVec
	traces    atomic.Pointer[func() (published, dropped uint64)]
}

// New returns the agent's metrics, registered with a fresh registry together with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeplane_agent_requests_total",
			Help: "Requests served, by route and status class (1xx..5xx).",
		}, []string{"route", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "edgeplane_agent_request_duration_seconds",
			Help:    "Time from a request's head being read to its response being written, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeplane_agent_upstream_errors_total",
			Help: "Failed exchanges with backends, by route and kind (connect, timeout, broken).",
		}, []string{"route", "kind"}),
		panics: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "edgeplane_agent_upstream_panic_total",
			Help: "Times a route entered panic mode (too few healthy targets: sending to all of them), by route.",
		}, []string{"route"}),
		overflow: newOverflow(),
		revision: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgeplane_agent_config_revision",
			Help: "Config revision being served (0 before any config).",
		}),
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "edgeplane_agent_control_plane_connected",
			Help: "1 while the config stream to the control plane is open, else 0.",
		}),
		retry:   newRetryVecs(),
		targets: newHealthGauge(),
		conns: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "edgeplane_agent_open_connections",
			Help: "Client connections open, by listener (http, https).",
		}, []string{"listener"}),
	}
	published := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgeplane_agent_traces_published_total",
		Help: "Request records written to the request stream in Redis.",
	}, func() float64 { p, _ := m.traceStats(); return float64(p) })
	dropped := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "edgeplane_agent_traces_dropped_total",
		Help: "Request records dropped because the publishing buffer was full (Redis slow or down).",
	}, func() float64 { _, d := m.traceStats(); return float64(d) })
	m.reg.MustRegister(m.requests, m.duration, m.upstream, m.panics, m.overflow, m.retry.retries, m.retry.exhausted, m.targets, m.revision, m.connected, m.conns, published, dropped,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// SetTraceStats sets where the request-record counters are read from at scrape time; f must
// return running totals (never decreasing) and be safe for concurrent use.
func (m *Metrics) SetTraceStats(f func() (published, dropped uint64)) { m.traces.Store(&f) }

func (m *Metrics) traceStats() (published, dropped uint64) {
	if f := m.traces.Load(); f != nil {
		return (*f)()
	}
	return 0, 0
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry returns the registry the metrics live in.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetRevision records the config revision being served.
func (m *Metrics) SetRevision(rev int64) { m.revision.Set(float64(rev)) }

// SetConnected records whether the config stream is open.
func (m *Metrics) SetConnected(up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.connected.Set(v)
}

// Connections returns the open-connections gauge of a listener ("http", "https").
func (m *Metrics) Connections(listener string) prometheus.Gauge {
	return m.conns.WithLabelValues(listener)
}

// Route is one route's metrics. Its series are created on first use, not when a table is
// built: a table of 100,000 routes would otherwise cost ~20 series (~9 KiB) per route and
// seconds of a cold start, mostly for routes that never see a request or an error. Its
// methods are the hot path: one atomic load, then an atomic add.
type Route struct {
	m        *Metrics
	name     string
	classes  [6]atomic.Pointer[prometheus.Counter] // index status/100; 0 counts anything out of range
	latency  atomic.Pointer[prometheus.Observer]
	upstream [numErrKinds]atomic.Pointer[prometheus.Counter]
	panics   atomic.Pointer[prometheus.Counter]
	overflow [numOverflowKinds]atomic.Pointer[prometheus.Counter]
	retries  [numRetryReasons]atomic.Pointer[prometheus.Counter]
	budget   atomic.Pointer[prometheus.Counter]
}

// Route returns the metrics of the route called name. Call it when a table is built, not
// per request; it creates no series.
func (m *Metrics) Route(name string) *Route { return &Route{m: m, name: name} }

// series returns the series in p, creating it with mk the first time. Two first uses at once
// both get the one series the vector holds for those labels.
func series[T any](p *atomic.Pointer[T], mk func() T) T {
	if v := p.Load(); v != nil {
		return *v
	}
	v := mk()
	p.CompareAndSwap(nil, &v)
	return *p.Load()
}

func (r *Route) class(i int) prometheus.Counter {
	if c := r.classes[i].Load(); c != nil {
		return *c
	}
	return series(&r.classes[i], func() prometheus.Counter {
		class := "other"
		if i > 0 {
			class = string(rune('0'+i)) + "xx"
		}
		return r.m.requests.WithLabelValues(r.name, class)
	})
}

func (r *Route) observer() prometheus.Observer {
	if o := r.latency.Load(); o != nil {
		return *o
	}
	return series(&r.latency, func() prometheus.Observer { return r.m.duration.WithLabelValues(r.name) })
}

// Forget drops the series of a route that is no longer served.
func (m *Metrics) Forget(name string) {
	m.requests.DeletePartialMatch(prometheus.Labels{"route": name})
	m.duration.DeleteLabelValues(name)
	m.upstream.DeletePartialMatch(prometheus.Labels{"route": name})
	m.panics.DeleteLabelValues(name)
	m.overflow.DeletePartialMatch(prometheus.Labels{"route": name})
	m.retry.forget(name)
}

// Observe counts a finished request with status and duration d.
func (r *Route) Observe(status int, d time.Duration) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	r.class(class).Inc()
	r.observer().Observe(d.Seconds())
}

// UpstreamError counts a failed exchange with a backend; kind is ErrConnect, ErrTimeout or
// ErrBroken.
func (r *Route) UpstreamError(kind int) {
	series(&r.upstream[kind], func() prometheus.Counter {
		return r.m.upstream.WithLabelValues(r.name, errKindNames[kind])
	}).Inc()
}

// Panic counts a route entering panic mode. Not the hot path: called when targets' health
// changes.
func (r *Route) Panic() {
	series(&r.panics, func() prometheus.Counter { return r.m.panics.WithLabelValues(r.name) }).Inc()
}
