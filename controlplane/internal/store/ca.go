package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// caRecord is the stored cluster CA: its certificate and its sealed private key.
type caRecord struct {
	Cert []byte `json:"cert"`
	Key  []byte `json:"key"`
}

// caSealName binds the sealed CA key to its record.
const caSealName = "cluster-ca"

// LoadCA returns the cluster CA's PEM certificate and private key. model.ErrNotFound if
// there is none yet; ErrNoSecretsKey without a secrets key.
func (s *Store) LoadCA(ctx context.Context) (certPEM, keyPEM []byte, err error) {
	if s.secrets == nil {
		return nil, nil, ErrNoSecretsKey
	}
	v, err := s.rdb.Get(ctx, s.keys.identity.ca).Bytes()
	if err != nil {
		return nil, nil, mapErr(err, "reading the cluster CA")
	}
	var r caRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, nil, fmt.Errorf("decoding the cluster CA: %w", err)
	}
	key, err := s.secrets.OpenFor(caSealName, r.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster CA key: %w", err)
	}
	return r.Cert, key, nil
}

// CreateCA stores the cluster CA unless one is stored already (SET NX), and reports whether
// it did: of replicas starting at once, exactly one stores its CA and the others must load it.
func (s *Store) CreateCA(ctx context.Context, certPEM, keyPEM []byte) (bool, error) {
	if s.secrets == nil {
		return false, ErrNoSecretsKey
	}
	b, err := json.Marshal(caRecord{Cert: certPEM, Key: s.secrets.SealFor(caSealName, keyPEM)})
	if err != nil {
		return false, err
	}
	ok, err := s.rdb.SetNX(ctx, s.keys.identity.ca, b, 0).Result()
	return ok, mapErr(err, "storing the cluster CA")
}
