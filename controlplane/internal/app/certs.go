package app

import (
	"github.com/edgeplane/edgeplane/controlplane/internal/api"
	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// buildCerts wires CertificateService and the ACME manager (Run by Run).
func (a *App) buildCerts(st *store.Store) {
	a.certs = certs.New(certs.Config{Store: st, State: a.state, Fleet: a.fanout,
		Directory: a.cfg.ACMEDirectory, Email: a.cfg.ACMEEmail, HTTPClient: a.acmeHTTP, RetryMin: a.cfg.ACMERetryMin,
		Events: a.events.For("certs").Emit, Logger: a.log.With("component", "acme")})
	edgeplanev1.RegisterCertificateServiceServer(a.grpc, &api.Certificates{Certs: a.certs, Fleet: a.fanout})
}
