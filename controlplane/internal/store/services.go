package store

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Docker service definitions live in the hash {ns}:docker:services, name ->
// "<version>:<Service protobuf>". The version counts the definition's writes and is its
// etag. They are not config (agents never see them); the endpoints the docker package
// derives from them are, as KindService.

// CreateService stores a new service definition and returns it with its etag.
// model.ErrAlreadyExists if the name is taken.
func (s *Store) CreateService(ctx context.Context, svc *edgeplanev1.Service) (*edgeplanev1.Service, error) {
	return s.writeService(ctx, "create", svc, 0)
}

// PutService replaces a stored definition; with ifVersion != 0 only if it is still at that
// version (model.ErrConflict otherwise). model.ErrNotFound if it does not exist.
func (s *Store) PutService(ctx context.Context, svc *edgeplanev1.Service, ifVersion int64) (*edgeplanev1.Service, error) {
	return s.writeService(ctx, "put", svc, ifVersion)
}

// DeleteService removes a definition, with ifVersion != 0 only if it is at that version.
func (s *Store) DeleteService(ctx context.Context, name string, ifVersion int64) error {
	_, err := s.runServiceScript(ctx, name, "del", ifVersion, nil)
	return err
}

// GetService reads one definition. model.ErrNotFound if it does not exist.
func (s *Store) GetService(ctx context.Context, name string) (*edgeplanev1.Service, error) {
	return getVersioned(ctx, s, s.keys.dockerServices, "service", name, decodeService)
}

// ListServices returns every definition, ordered by name.
func (s *Store) ListServices(ctx context.Context) ([]*edgeplanev1.Service, error) {
	return listVersioned(ctx, s, s.keys.dockerServices, "service", decodeService)
}

// ClaimEvent returns true for the first caller to claim id within ttl, false for every
// later one: replicas watching one Docker engine use it so that each engine event is
// reported once.
func (s *Store) ClaimEvent(ctx context.Context, id string, ttl time.Duration) (bool, error) {
	ok, err := s.rdb.SetNX(ctx, s.keys.DockerEvent(id), 1, ttl).Result()
	return ok, mapErr(err, "claiming docker event")
}

func (s *Store) writeService(ctx context.Context, op string, svc *edgeplanev1.Service, ifVersion int64) (*edgeplanev1.Service, error) {
	c := proto.CloneOf(svc)
	c.Etag = ""
	payload, err := proto.MarshalOptions{Deterministic: true}.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding service %q: %w", svc.GetName(), err)
	}
	v, err := s.runServiceScript(ctx, svc.GetName(), op, ifVersion, payload)
	if err != nil {
		return nil, err
	}
	c.Etag = Etag(v)
	return c, nil
}

func (s *Store) runServiceScript(ctx context.Context, name, op string, ifVersion int64, payload []byte) (int64, error) {
	v, err := s.runVersioned(ctx, []string{s.keys.dockerServices}, name, op, ifVersion, payload, "")
	return v, mapErr(err, fmt.Sprintf("writing service %q", name))
}

func decodeService(name, v string) (*edgeplanev1.Service, error) {
	version, payload, err := splitValue(v)
	if err != nil {
		return nil, fmt.Errorf("reading service %q: %w", name, err)
	}
	svc := &edgeplanev1.Service{}
	if err := proto.Unmarshal(payload, svc); err != nil {
		return nil, fmt.Errorf("reading service %q: %w", name, err)
	}
	svc.Etag = Etag(version)
	return svc, nil
}
