package docker

import (
	"context"
	"errors"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// publish tells agents where svc runs: its endpoint while running, no targets otherwise (a
// route to it then answers 503). It commits only a change, and returns the config revision
// that holds the endpoints, for wait_for_agents.
func (m *Manager) publish(ctx context.Context, svc *edgeplanev1.Service, running bool) (int64, error) {
	want := &edgeplanev1.ServiceEndpoints{Name: svc.GetName()}
	if running {
		want.Targets = []*edgeplanev1.Target{{Url: m.endpoint(svc)}}
	}
	cur, err := m.store.Get(ctx, store.KindService, svc.GetName())
	switch {
	case err == nil && proto.Equal(cur.Value, want):
		return cur.Revision, nil
	case err != nil && !isNotFound(err):
		return 0, err
	}
	payload, err := m.store.Encode(store.KindService, want)
	if err != nil {
		return 0, err
	}
	return m.store.Commit(ctx, store.Op{Kind: store.KindService, Name: svc.GetName(), Payload: payload, Fresh: m.cfg.Fresh()})
}

// unpublish removes a deleted service's endpoints. It returns the revision of the removal,
// or 0 if there was nothing to remove.
func (m *Manager) unpublish(ctx context.Context, name string) (int64, error) {
	rev, err := m.store.Commit(ctx, store.Op{Kind: store.KindService, Name: name, Delete: true, Pre: store.MustExist, Fresh: m.cfg.Fresh()})
	if errors.Is(err, model.ErrNotFound) {
		return 0, nil
	}
	return rev, err
}
