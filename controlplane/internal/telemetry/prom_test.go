package telemetry_test

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/publish"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func TestCollector_ReportsTheTelemetryRedisMemory(t *testing.T) {
	srv := redistest.NewWithOptions(t, redistest.Options{Args: []string{"--maxmemory", "64mb"}})
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	reg := prometheus.NewRegistry()
	reg.MustRegister(telemetry.NewCollector(telemetry.Collector{Client: rdb,
		Reader:    &telemetry.Reader{Client: rdb, Streams: telemetry.StreamNames("")},
		Publisher: publish.New(publish.Config{Client: rdb}), Connected: func() int { return 0 }}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if m := mf.GetMetric(); len(m) == 1 && m[0].GetGauge() != nil {
			got[mf.GetName()] = m[0].GetGauge().GetValue()
		}
	}
	if got["edgeplane_telemetry_redis_maxmemory_bytes"] != 64<<20 || got["edgeplane_telemetry_redis_used_bytes"] <= 0 {
		t.Errorf("got %v, want maxmemory 64 MiB and a used size", got)
	}
}
