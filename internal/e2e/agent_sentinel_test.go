package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/redisurl"
)

// A control plane on a Sentinel-managed Redis (--redis-url in the Sentinel form) hands an
// enrolled agent the Sentinel form of the URL, with the agent's own user for the data servers
// and no sentinel credentials; the agent publishes its request records through the sentinels
// to the primary, and GetMetrics and GetTrace find them.
func TestEnroll_AgentPublishesThroughSentinel(t *testing.T) {
	s := redistest.NewSentinel(t, redistest.Options{Password: "state-pw"})
	agentPublishes(t, s.URL(), func(agentURL string) {
		o, err := redis.ParseFailoverURL(agentURL)
		if err != nil {
			t.Fatalf("agent Redis URL %q: %v, want the Sentinel form", agentURL, err)
		}
		if o.MasterName != redistest.MasterName || len(o.SentinelAddrs) != 3 || o.SentinelPassword != "" ||
			o.Username != "edgeplane-agent-edge-2" || o.Password == "" {
			t.Fatalf("agent Redis URL %q: master %q, sentinels %v, sentinel password set %t, user %q; want %s, 3 sentinels, none, the agent's",
				agentURL, o.MasterName, o.SentinelAddrs, o.SentinelPassword != "", o.Username, redistest.MasterName)
		}
	})
}

// The same on a Redis Cluster: the agent gets every seed (?addr=) with its own user, which
// exists on every node.
func TestEnroll_AgentPublishesToCluster(t *testing.T) {
	c := redistest.NewCluster(t, redistest.Options{Password: "state-pw"})
	agentPublishes(t, c.URL(), func(agentURL string) {
		o, err := redis.ParseClusterURL(agentURL)
		if err != nil {
			t.Fatalf("agent Redis URL %q: %v, want the Cluster form", agentURL, err)
		}
		if len(o.Addrs) != 6 || o.Username != "edgeplane-agent-edge-2" || o.Password == "" {
			t.Fatalf("agent Redis URL %q: seeds %v, user %q; want 6 seeds and the agent's user", agentURL, o.Addrs, o.Username)
		}
	})
}

// agentPublishes starts a control plane on redisURL, checks the agent Redis URL a node gets
// with checkURL and that it may only XADD, then has a real agent, enrolled with a token,
// serve requests whose records GetMetrics and GetTrace find.
func agentPublishes(t *testing.T, redisURL string, checkURL func(agentURL string)) {
	cp, pin := startControlTLS(t, redisURL, "cp-1")
	tel := edgeplanev1.NewTelemetryServiceClient(cp.conn)

	// The URL itself, as a second node gets it.
	token, _ := joinToken(t, cp, 1)
	cert, err := enrol(t.Context(), cp.conn, token, "edge-2")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := firstMessage(t.Context(), dialTLS(t, cp.Addr, pin, cert), "edge-2")
	if err != nil {
		t.Fatal(err)
	}
	agentURL := msg.GetSettings().GetTelemetry().GetRedisUrl()
	if strings.Contains(agentURL, "state-pw") {
		t.Fatalf("agent Redis URL %q carries the control plane's password", agentURL)
	}
	checkURL(agentURL)
	c, err := redisurl.Open(agentURL, redisurl.Tuning{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Get(t.Context(), "anything").Err(); err == nil || !strings.Contains(err.Error(), "NOPERM") {
		t.Errorf("GET with the agent's user: got %v, want NOPERM (XADD only)", err)
	}

	// A real agent, enrolled with a token, serving and publishing.
	token, _ = joinToken(t, cp, 1)
	ag := startAgent(t, cp.Addr, "edge-1", t.TempDir(), "--join-token", token, "--ca-pin", pin)
	create(t, cp, route("web", "web.test", backend(t, "A")))
	ag.expectServes("web.test", "/", 200, "A /")
	const n = 40
	var traceID string
	for i := range n {
		req, _ := http.NewRequest(http.MethodGet, "http://"+ag.Addr+"/p", nil)
		req.Host = "web.test"
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if i == 0 {
			traceID = res.Header.Get("X-Trace-Id")
		}
	}
	if len(traceID) != 32 {
		t.Fatalf("X-Trace-Id: got %q, want a trace id", traceID)
	}
	// expectServes' probes went through the agent too (some may have failed before the
	// route arrived, then they were 404s on another host's count), so at least n.
	eventually(t, 30*time.Second, func() error {
		res, err := tel.GetMetrics(t.Context(), &edgeplanev1.GetMetricsRequest{Host: "web.test", Window: durationpb.New(time.Minute)})
		if err != nil {
			return err
		}
		if got := res.GetTotal().GetStatusClasses()["2xx"]; got < n+1 {
			return fmt.Errorf("metrics: got %d 2xx, want at least %d", got, n+1)
		}
		return nil
	})
	res, err := tel.GetTrace(t.Context(), &edgeplanev1.GetTraceRequest{TraceId: traceID})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.GetEntries()) != 1 || res.GetEntries()[0].GetFields()["node"] != "edge-1" {
		t.Errorf("GetTrace of the agent's trace id: got %v, want its request record from edge-1", res.GetEntries())
	}
}
