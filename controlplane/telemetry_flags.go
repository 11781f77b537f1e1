package main

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/app"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
)

// Bounds of the telemetry flags.
const (
	minRetention  = 10 * time.Second
	maxRetention  = 7 * 24 * time.Hour
	minMaxRecords = 1000
)

// telemetryFlags registers the flags that place and bound telemetry.
func telemetryFlags(fs *flag.FlagSet, cfg *app.TelemetryConfig) {
	fs.StringVar(&cfg.RedisURL, "telemetry-redis-url", "", "Redis URL for telemetry (streams, metrics, alert state), same forms as --redis-url; default: the state Redis. Give it maxmemory and noeviction (see deploy/redis-telemetry.conf)")
	cfg.Retention = telemetry.DefaultRetention
	fs.Func("telemetry-retention", "how long stream records (logs, events, requests, alerts) and the trace index are kept, 10s to 168h (default 1h)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < minRetention || d > maxRetention {
			return fmt.Errorf("%q: want a duration from %s to %s", v, minRetention, maxRetention)
		}
		cfg.Retention = d
		return nil
	})
	cfg.MaxRecords = telemetry.DefaultMaxRecords
	fs.Func("telemetry-max-records", "cap of each telemetry stream in records, at least 1000 (default 1000000; ~300 bytes each for request records, search index included)", func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < minMaxRecords {
			return fmt.Errorf("%q: want a whole number of at least %d", v, minMaxRecords)
		}
		cfg.MaxRecords = n
		return nil
	})
	fs.Func("stream-retention", "per-stream retention by age or length, overriding --telemetry-retention and --telemetry-max-records: logs:request:stream=24h,events:all:stream=100000 (streams named as in the default namespace)", func(v string) error {
		if cfg.StreamRetention != "" {
			v = cfg.StreamRetention + "," + v // repeated: one list
		}
		if _, err := telemetry.ParseStreamRetention(v, telemetry.StreamNames("").All()); err != nil {
			return err
		}
		cfg.StreamRetention = v
		return nil
	})
}
