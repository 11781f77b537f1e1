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
	base := a.cfg.AgentRedisURL // where agents reach the telemetry Redis
	if base == "" {
		base = cmp.Or(a.cfg.Telemetry.RedisURL, a.cfg.RedisURL)
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil
	}
	u.RawQuery, u.Fragment = "", ""
	stream := a.keys().Streams().Requests
	return func(ctx context.Context, node string) *edgeplanev1.AgentSettings {
		pw, err := st.AgentRedisPassword(ctx, node)
		if err != nil || pw == "" {
			return nil
		}
		c := *u
		c.User = url.UserPassword(st.AgentRedisUser(node), pw)
		return &edgeplanev1.AgentSettings{Telemetry: &edgeplanev1.TelemetrySettings{
			RedisUrl: c.String(), RequestStream: stream, MaxLen: a.streamMaxLen(stream)}}
	}
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
