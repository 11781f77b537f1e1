package telemetry

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/clock"
	"github.com/edgeplane/edgeplane/internal/publish"
)

// Collector exports, at scrape time, what lives in Redis and in the publisher: stream
// lengths, consumer lag, agents connected to this replica, published and dropped records.
// Each scrape does a few Redis reads, bounded by a timeout; nothing is polled in between.
type Collector struct {
	Client    redis.UniversalClient
	Reader    *Reader
	Publisher *publish.Publisher
	// Connected returns the number of agents connected to this replica.
	Connected func() int

	streamLen, lag, pending, agents, published, dropped, used, limit *prometheus.Desc
}

// NewCollector returns a Collector; register it on a prometheus.Registry.
func NewCollector(c Collector) *Collector {
	c.streamLen = prometheus.NewDesc("edgeplane_stream_length", "Entries in a telemetry stream (XLEN).", []string{"stream"}, nil)
	c.lag = prometheus.NewDesc("edgeplane_consumer_lag_seconds", "Age of the oldest entry a consumer group has not finished.", []string{"stream", "group"}, nil)
	c.pending = prometheus.NewDesc("edgeplane_consumer_pending", "Entries delivered to a consumer group and not acknowledged.", []string{"stream", "group"}, nil)
	c.agents = prometheus.NewDesc("edgeplane_agents_connected", "Agents connected to this replica.", nil, nil)
	c.published = prometheus.NewDesc("edgeplane_telemetry_published_total", "Log, event and index records written to Redis.", nil, nil)
	c.dropped = prometheus.NewDesc("edgeplane_telemetry_dropped_total", "Records dropped because Redis was slow or unreachable.", nil, nil)
	c.used = prometheus.NewDesc("edgeplane_telemetry_redis_used_bytes", "Memory the telemetry Redis uses (INFO memory used_memory).", nil, nil)
	c.limit = prometheus.NewDesc("edgeplane_telemetry_redis_maxmemory_bytes", "The telemetry Redis's maxmemory (0: none).", nil, nil)
	return &c
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.streamLen, c.lag, c.pending, c.agents, c.published, c.dropped, c.used, c.limit} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if info, err := c.Client.Info(ctx, "memory").Result(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.used, prometheus.GaugeValue, float64(infoInt(info, "used_memory")))
		ch <- prometheus.MustNewConstMetric(c.limit, prometheus.GaugeValue, float64(infoInt(info, "maxmemory")))
	}
	s := c.Reader.Streams
	for _, name := range []string{s.LogsAll, s.LogsError, s.Requests, s.Events, s.Alerts} {
		if n, err := c.Client.XLen(ctx, name).Result(); err == nil {
			ch <- prometheus.MustNewConstMetric(c.streamLen, prometheus.GaugeValue, float64(n), name)
		}
	}
	if lags, err := c.Reader.ConsumerLag(ctx, clock.Now()); err == nil {
		for g, l := range lags {
			ch <- prometheus.MustNewConstMetric(c.lag, prometheus.GaugeValue, l.Age.Seconds(), g.Stream, g.Group)
			ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(l.Pending), g.Stream, g.Group)
		}
	}
	ch <- prometheus.MustNewConstMetric(c.agents, prometheus.GaugeValue, float64(c.Connected()))
	st := c.Publisher.Stats()
	ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(st.Sent))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(st.Dropped))
}
