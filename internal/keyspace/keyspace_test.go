package keyspace_test

import (
	"testing"

	"github.com/edgeplane/edgeplane/internal/keyspace"
)

// The default namespace keeps the names operators and existing data use; another
// namespace starts every key with itself (after a hash tag's "{").
func TestSpace_Names(t *testing.T) {
	def, ns := keyspace.New(""), keyspace.New("prod")
	req := ns.Streams().Requests
	tests := []struct{ got, want string }{
		{def.Routes(), "{edgeplane}:routes"},
		{def.Changelog(), "{edgeplane}:changelog"},
		{def.PortsUsed("10.0.0.1"), "{edgeplane}:ports:used:10.0.0.1"},
		{def.CertificateLock("web"), "{edgeplane}:certificates:lock:web"},
		{def.JoinToken("t1"), "{edgeplane}:jointoken:t1"},
		{def.AgentUser("edge-1"), "edgeplane-agent-edge-1"},
		{def.Streams().LogsAll, "logs:all:stream"},
		{def.Streams().Requests, "logs:request:stream"},
		{keyspace.DefaultRequestStream, "logs:request:stream"},
		{def.Streams().Events, "events:all:stream"},
		{def.Streams().Alerts, "alerts:stream"},
		{def.AlertsActive(), "{alerts}:active"},
		{ns.Routes(), "{prod}:routes"},
		{ns.AgentUser("edge-1"), "prod-agent-edge-1"},
		{req, "prod:logs:request:stream"},
		{keyspace.DeadLetter(req), "prod:logs:request:stream:dead"},
		{keyspace.TraceBucket(req, 60000, 0xab), "{prod:logs:request:stream}:trace:60000:ab"},
		{keyspace.MetricsIndex(req, 60), "{prod:logs:request:stream}:metrics:60:idx"},
		{keyspace.MetricsSeries(req, 60, keyspace.Series("a.test", "web")), "{prod:logs:request:stream}:metrics:60:a.test\tweb"},
		{ns.AlertCooldown(`X{a="b"}`), `prod:{alerts}:cooldown:X{a="b"}`},
		{ns.WithStreamPrefix("edge:").Streams().LogsAll, "edge:logs:all:stream"},
		{def.WithStreamPrefix("").Streams().LogsAll, "logs:all:stream"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// Every stream of Streams.All is distinct, and the consumed streams' dead letters are in it.
func TestStreams_AllIsComplete(t *testing.T) {
	s := keyspace.New("x").Streams()
	seen := map[string]bool{}
	for _, n := range s.All() {
		if seen[n] {
			t.Errorf("got %q twice in All", n)
		}
		seen[n] = true
	}
	for _, want := range []string{s.LogsAll, s.LogsError, s.Requests, s.Events, s.Alerts,
		keyspace.DeadLetter(s.Requests), keyspace.DeadLetter(s.Events)} {
		if !seen[want] {
			t.Errorf("All lacks %q", want)
		}
	}
}
