package app

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/pki"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redisurl"
)

// buildEnrollment wires EnrollmentService and the agents' identities (TLS on).
func (a *App) buildEnrollment(st *store.Store, fleet *api.Fleet) {
	enr := &api.Enrollment{}
	fleet.Enrollment = enr
	edgeplanev1.RegisterEnrollmentServiceServer(a.grpc, enr)
	if a.ca == nil {
		return
	}
	fleet.RequireCert = true
	streams := a.keys().Streams()
	enr.Enroller = &pki.Enroller{Store: st, CA: a.ca, Lifetime: a.cfg.AgentCertLifetime,
		RequestStream: streams.Requests, Logger: a.log.With("component", "pki")}
}

// agentSettings returns node's own telemetry settings: the agents' Redis URL with node's
// credentials (nil if it has none).
func (a *App) agentSettings(st *store.Store) func(ctx context.Context, node string) *edgeplanev1.AgentSettings {
	base, explicit := a.cfg.AgentRedisURL, true // where agents reach the telemetry Redis
	if base == "" {
		base, explicit = cmp.Or(a.cfg.Telemetry.RedisURL, a.cfg.RedisURL), false
	}
	mode, err := redisurl.ModeOf(base)
	if err != nil {
		return nil
	}
	u, _ := url.Parse(base)
	if mode == redisurl.Sentinel && !explicit && u.User != nil {
		a.log.Warn("enrolled agents get no sentinel credentials (the control plane's are never handed out); " +
			"if the sentinels require a password, pass --agent-redis-url redis://[user:pw@]sentinel:26379?master_name=...: " +
			"its user and password go to every agent for the sentinels only")
	}
	stream := a.keys().Streams().Requests
	return func(ctx context.Context, node string) *edgeplanev1.AgentSettings {
		pw, err := st.AgentRedisPassword(ctx, node)
		if err != nil || pw == "" {
			return nil
		}
		return &edgeplanev1.AgentSettings{Telemetry: &edgeplanev1.TelemetrySettings{
			RedisUrl: agentURL(u, mode, explicit, st.AgentRedisUser(node), pw), RequestStream: stream, MaxLen: a.streamMaxLen(stream)}}
	}
}

// agentURL is base (a URL in mode's form) with the agent's own user and password for the
// Redis servers, keeping what locates them: the Cluster's ?addr= seeds, the Sentinel's
// ?master_name= and ?addr= sentinels. Every other query parameter (the control plane's
// tuning, its ?username= and ?password=) is dropped. In the Sentinel form the agent's
// credentials go to the data servers only (?username=&password=); base's userinfo, which
// authenticates to the sentinels, is kept only if keepSentinelAuth (the operator gave it in
// --agent-redis-url for the agents), so the control plane's own never reach an agent.
func agentURL(base *url.URL, mode redisurl.Mode, keepSentinelAuth bool, user, pw string) string {
	c := *base
	c.Fragment = ""
	bq, q := base.Query(), url.Values{}
	switch mode {
	case redisurl.Sentinel:
		if !keepSentinelAuth {
			c.User = nil
		}
		q["master_name"] = bq["master_name"]
		q["username"], q["password"] = []string{user}, []string{pw}
	default:
		c.User = url.UserPassword(user, pw)
	}
	if mode != redisurl.Single && len(bq["addr"]) > 0 {
		q["addr"] = bq["addr"]
	}
	c.RawQuery = q.Encode()
	return c.String()
}

// watchAgents ends, until ctx ends, the sessions of agents revoked on any replica and those
// replaced by a newer stream on another replica.
func (a *App) watchAgents(ctx context.Context, st *store.Store) error {
	if a.ca == nil {
		return nil
	}
	ev := store.AgentEvents{Revoked: a.fanout.Revoke, TakenOver: a.fanout.TakenOver}
	for ctx.Err() == nil {
		_ = st.WatchAgents(ctx, a.tail, ev)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// renewAgent signs a renewal for an agent authenticated as node (fanout.Config.Renew).
func (a *App) renewAgent(csrPEM []byte, node string) ([]byte, []byte, error) {
	if a.ca == nil {
		return nil, nil, errors.New("TLS is off")
	}
	e := &pki.Enroller{CA: a.ca, Lifetime: a.cfg.AgentCertLifetime}
	cert, err := e.Renew(csrPEM, node)
	return cert, a.ca.PEM(), err
}

// serveCA answers GET /ca.pem with the cluster CA certificate (public: what grpcurl -cacert
// and admin clients trust); 404 with TLS off.
func (a *App) serveCA(w http.ResponseWriter, _ *http.Request) {
	if a.ca == nil {
		http.Error(w, "no cluster CA: gRPC is plaintext (--insecure or --dev)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("X-Edgeplane-CA-Pin", a.ca.Pin())
	_, _ = w.Write(a.ca.PEM())
}
