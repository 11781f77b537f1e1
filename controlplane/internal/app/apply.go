package app

import (
	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/apply"
	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// buildApply wires ConfigService (after buildServices and buildCerts: it drives a.docker,
// and declared certificates wake a.certs).
func (a *App) buildApply(st *store.Store) {
	cfg := apply.Config{Store: st, State: a.state, ACMEDirectory: a.cfg.ACMEDirectory,
		Wake: a.certs.Wake, Events: a.events.For("apply"), Logger: a.log.With("component", "apply")}
	if a.docker != nil { // a nil *docker.Manager must not become a non-nil interface
		cfg.Services = a.docker
	}
	edgeplanev1.RegisterConfigServiceServer(a.grpc, &api.Config{Apply: apply.New(cfg), Fleet: a.fanout,
		ServicesRole: auth.Role(a.cfg.Auth.DockerCreateRole)})
}
