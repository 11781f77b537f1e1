package store_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/redistest"
	"github.com/edgeplane/edgeplane/internal/redisurl"
)

const aclStream = "logs:request:stream"

// aclStore is a store whose agents' users are made on the Redis at url.
func aclStore(t *testing.T, url string) *store.Store {
	t.Helper()
	c, err := redisurl.Open(url, redisurl.Tuning{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return store.New(store.Config{Client: c.UniversalClient, Secrets: secrets.Ephemeral()})
}

// hasUser reports whether srv knows the ACL user.
func hasUser(t *testing.T, srv *redistest.Server, user string) bool {
	t.Helper()
	err := srv.Client().Do(t.Context(), "ACL", "GETUSER", user).Err()
	if err != nil && err != redis.Nil {
		t.Fatalf("ACL GETUSER on %s: %v", srv.Addr, err)
	}
	return err == nil
}

// publishes reports whether user can XADD to the request stream on srv.
func publishes(t *testing.T, srv *redistest.Server, user, pw string) error {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, Username: user, Password: pw, DisableIdentity: true, Protocol: 2})
	defer c.Close()
	return c.XAdd(t.Context(), &redis.XAddArgs{Stream: aclStream, Values: []string{"r", "x"}}).Err()
}

// On a Cluster an agent's user is on all six nodes, replicas included, and deleting it
// removes it from all of them.
func TestAgentRedisUser_OnEveryClusterNode(t *testing.T) {
	c := redistest.NewCluster(t, redistest.Options{Password: "pw"})
	st := aclStore(t, c.URL())
	user, _, err := st.CreateAgentRedisUser(t.Context(), "edge-1", aclStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if !hasUser(t, n, user) {
			t.Errorf("node %s: no user %s", n.Addr, user)
		}
	}
	if err := st.DeleteAgentRedisUser(t.Context(), "edge-1"); err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Nodes {
		if hasUser(t, n, user) {
			t.Errorf("node %s: user %s still there after DeleteAgentRedisUser", n.Addr, user)
		}
	}
}

// With Sentinel the user is made on the primary and its replica, so after a failover the
// agent still publishes to the promoted primary with the same password.
func TestAgentRedisUser_SurvivesSentinelFailover(t *testing.T) {
	s := redistest.NewSentinel(t, redistest.Options{Password: "pw"})
	st := aclStore(t, s.URL())
	user, pw, err := st.CreateAgentRedisUser(t.Context(), "edge-1", aclStream)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range s.Nodes {
		if !hasUser(t, n, user) {
			t.Errorf("node %s: no user %s", n.Addr, user)
		}
	}
	s.Failover()
	if err := publishes(t, s.Primary(), user, pw); err != nil {
		t.Errorf("XADD as %s on the promoted primary: %v", user, err)
	}
}
