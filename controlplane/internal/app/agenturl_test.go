package app

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/redisurl"
)

func agentURLOf(t *testing.T, base string, keep bool) string {
	t.Helper()
	mode, err := redisurl.ModeOf(base)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	got := agentURL(u, mode, keep, "edgeplane-agent-n1", "agentpw")
	if strings.Contains(got, "cpsecret") || strings.Contains(got, "pool_size") {
		t.Errorf("agent URL %q carries the control plane's credentials or tuning", got)
	}
	if m, err := redisurl.ModeOf(got); err != nil || m != mode {
		t.Errorf("agent URL %q: mode %s (%v), want %s", got, m, err, mode)
	}
	return got
}

// The Sentinel form keeps ?master_name= and the sentinels; the agent's user goes to the
// data servers only, and the control plane's sentinel credentials never reach the agent.
func TestAgentURL_Sentinel(t *testing.T) {
	base := "redis://cp:cpsecret@s1:26379?master_name=edgeplane&addr=s2:26379&addr=s3:26379&username=cp&password=cpsecret&pool_size=50"
	o, err := redis.ParseFailoverURL(agentURLOf(t, base, false))
	if err != nil {
		t.Fatal(err)
	}
	if o.MasterName != "edgeplane" || !slices.Equal(o.SentinelAddrs, []string{"s1:26379", "s2:26379", "s3:26379"}) {
		t.Errorf("got master %q sentinels %v, want edgeplane on s1, s2, s3", o.MasterName, o.SentinelAddrs)
	}
	if o.Username != "edgeplane-agent-n1" || o.Password != "agentpw" {
		t.Errorf("data-server credentials %q/%q, want the agent's", o.Username, o.Password)
	}
	if o.SentinelUsername != "" || o.SentinelPassword != "" {
		t.Errorf("sentinel credentials %q/%q, want none", o.SentinelUsername, o.SentinelPassword)
	}
	if o.PoolSize != 0 {
		t.Errorf("pool size %d: the control plane's tuning reached the agent", o.PoolSize)
	}

	// --agent-redis-url's own userinfo is the operator's opt-in: those sentinel credentials
	// are handed to agents, for the sentinels only.
	u, _ := url.Parse("redis://agents:sentpw@s1:26379?master_name=edgeplane")
	o, err = redis.ParseFailoverURL(agentURL(u, redisurl.Sentinel, true, "edgeplane-agent-n1", "agentpw"))
	if err != nil {
		t.Fatal(err)
	}
	if o.SentinelUsername != "agents" || o.SentinelPassword != "sentpw" || o.Username != "edgeplane-agent-n1" || o.Password != "agentpw" {
		t.Errorf("got sentinel %q/%q data %q/%q, want agents/sentpw and the agent's", o.SentinelUsername, o.SentinelPassword, o.Username, o.Password)
	}
}

// The Cluster form keeps every seed, with the agent's credentials for every node.
func TestAgentURL_Cluster(t *testing.T) {
	base := "redis://cp:cpsecret@n1:7000?addr=n2:7000&addr=n3:7000&pool_size=50"
	o, err := redis.ParseClusterURL(agentURLOf(t, base, false))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Addrs, []string{"n1:7000", "n2:7000", "n3:7000"}) {
		t.Errorf("seeds %v, want n1, n2, n3", o.Addrs)
	}
	if o.Username != "edgeplane-agent-n1" || o.Password != "agentpw" {
		t.Errorf("credentials %q/%q, want the agent's", o.Username, o.Password)
	}
}

// One server: the agent's credentials, the database kept, the query dropped.
func TestAgentURL_Single(t *testing.T) {
	got := agentURLOf(t, "rediss://cp:cpsecret@r:6380/2?pool_size=50", false)
	if want := "rediss://edgeplane-agent-n1:agentpw@r:6380/2"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
