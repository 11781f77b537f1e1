package app

import (
	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/apply"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// buildApply wires ConfigService (after buildCerts: declared certificates wake a.certs).
func (a *App) buildApply(st *store.Store) {
	svc := apply.New(apply.Config{Store: st, State: a.state, ACMEDirectory: a.cfg.ACMEDirectory,
		Wake: a.certs.Wake, Events: a.events.For("apply")})
	edgeplanev1.RegisterConfigServiceServer(a.grpc, &api.Config{Apply: svc, Fleet: a.fanout})
}
