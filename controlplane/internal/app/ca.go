package app

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/pki"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// loadCA returns the CA stored in Redis, storing the supplied or a new one if there is none.
// Replicas starting at once all end with the one CA that won the SET NX.
func (a *App) loadCA(ctx context.Context, st *store.Store) (*pki.CA, error) {
	var certPEM, keyPEM []byte
	if a.cfg.CACertFile != "" {
		var err error
		if certPEM, err = os.ReadFile(a.cfg.CACertFile); err != nil {
			return nil, fmt.Errorf("--ca-cert: %w", err)
		}
		if keyPEM, err = os.ReadFile(a.cfg.CAKeyFile); err != nil {
			return nil, fmt.Errorf("--ca-key: %w", err)
		}
		if _, err := pki.Parse(certPEM, keyPEM); err != nil {
			return nil, err
		}
	}
	for range 3 {
		c, k, err := st.LoadCA(ctx)
		if err == nil {
			if certPEM != nil && !bytes.Equal(bytes.TrimSpace(c), bytes.TrimSpace(certPEM)) {
				return nil, fmt.Errorf("--ca-cert differs from the cluster CA already stored in Redis; agents enrolled with it would be cut off. "+
					"Drop --ca-cert/--ca-key, or delete the stored CA (key %s) to replace it", a.keys().CA())
			}
			return pki.Parse(c, k)
		}
		if !errors.Is(err, model.ErrNotFound) {
			return nil, fmt.Errorf("loading the cluster CA: %w", err)
		}
		if certPEM == nil {
			ca, kp, err := pki.New()
			if err != nil {
				return nil, err
			}
			certPEM, keyPEM = ca.PEM(), kp
			defer func() { certPEM = nil }()
		}
		created, err := st.CreateCA(ctx, certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		if created {
			a.log.Info("made the cluster CA and stored it, sealed, in Redis")
			return pki.Parse(certPEM, keyPEM)
		}
	}
	return nil, errors.New("the cluster CA in Redis keeps changing")
}
