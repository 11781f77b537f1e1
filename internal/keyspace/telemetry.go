package keyspace

import (
	"encoding/hex"
	"strconv"
)

// Telemetry keys: streams, and keys derived from a stream's name. A derived key puts the
// stream's name in its hash tag ("{<stream>}:..."), which is the slot of the stream itself
// (a name without braces hashes whole), so a script may touch a stream and its derived keys
// together on Redis Cluster.

// Streams names the telemetry streams.
type Streams struct {
	// LogsAll holds every log record at or above the publishing level; LogsError the
	// errors again.
	LogsAll, LogsError string
	// Requests holds the agents' request records (internal/requestlog), one per request.
	Requests string
	// Events holds the domain events; Alerts the alert notifications.
	Events, Alerts string
}

// Streams returns the telemetry streams' names: "<stream prefix>logs:all:stream", ...
func (s Space) Streams() Streams {
	p := s.streams
	return Streams{
		LogsAll:   p + "logs:all:stream",
		LogsError: p + "logs:error:stream",
		Requests:  p + "logs:request:stream",
		Events:    p + "events:all:stream",
		Alerts:    p + "alerts:stream",
	}
}

// DefaultRequestStream is the default namespace's request stream: where an agent publishes
// when the control plane names none.
var DefaultRequestStream = New(DefaultNamespace).Streams().Requests

// Indexed returns the streams whose records are indexed by trace id (TraceBucket).
func (s Streams) Indexed() []string { return []string{s.LogsAll, s.Events, s.Requests} }

// Consumed returns the streams read by the control plane's consumer groups.
func (s Streams) Consumed() []string { return []string{s.Requests, s.Events} }

// All returns every telemetry stream, the consumers' dead-letter streams included.
func (s Streams) All() []string {
	all := []string{s.LogsAll, s.LogsError, s.Requests, s.Events, s.Alerts}
	for _, c := range s.Consumed() {
		all = append(all, DeadLetter(c))
	}
	return all
}

// The control plane's consumer groups (names, not keys).
const (
	GroupMetrics = "metrics" // on the request stream: metrics counters and the trace index
	GroupAlerts  = "alerts"  // on the events stream: the alert manager
)

// DeadLetter is the stream that receives stream's entries a consumer group gave up on.
func DeadLetter(stream string) string { return stream + ":dead" }

// TraceIndexPrefix starts every trace index key of stream.
func TraceIndexPrefix(stream string) string { return "{" + stream + "}:trace:" }

// TraceBucket is a string of trace index postings: stream's entries of the bucket starting at
// startMs (unix ms) whose trace id starts with byte shard.
func TraceBucket(stream string, startMs int64, shard byte) string {
	return TraceIndexPrefix(stream) + strconv.FormatInt(startMs, 10) + ":" + hex.EncodeToString([]byte{shard})
}

// MetricsIndex is a set: the "host\troute" series counted in the window of stream's records
// that starts at window (unix seconds).
func MetricsIndex(stream string, window int64) string {
	return metricsWindow(stream, window) + "idx"
}

// MetricsSeries is a hash of counters (requests, status classes, bytes, latency buckets) of
// one series, member of MetricsIndex(stream, window).
func MetricsSeries(stream string, window int64, series string) string {
	return metricsWindow(stream, window) + series
}

// Series is a metrics series' name, as stored in MetricsIndex.
func Series(host, route string) string { return host + "\t" + route }

func metricsWindow(stream string, window int64) string {
	return "{" + stream + "}:metrics:" + strconv.FormatInt(window, 10) + ":"
}

// Alert state: under "<stream prefix>{alerts}:", one hash tag, so the alert scripts may touch
// all of it together.

// AlertsActive is a hash: alert id -> the firing alert's JSON.
func (s Space) AlertsActive() string { return s.alerts() + "active" }

// AlertsNotified is a hash: alert id -> 1 once its firing was notified.
func (s Space) AlertsNotified() string { return s.alerts() + "notified" }

// AlertCooldown is a string (PX) held while alert id's notifications cool down.
func (s Space) AlertCooldown(id string) string { return s.alerts() + "cooldown:" + id }

func (s Space) alerts() string { return s.streams + "{alerts}:" }
