package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// KindRoute is the changelog kind of routes.
const KindRoute = "route"

// MarshalRoute serializes r for storage, without its output-only revision and etag, which
// the store derives from the revision prefix.
func MarshalRoute(r *edgeplanev1.Route) ([]byte, error) {
	c := proto.CloneOf(r)
	c.Revision, c.Etag = 0, ""
	return proto.MarshalOptions{Deterministic: true}.Marshal(c)
}

// UnmarshalRoute decodes a stored route and stamps it with rev (its revision and etag).
func UnmarshalRoute(payload []byte, rev int64) (*edgeplanev1.Route, error) {
	r := &edgeplanev1.Route{}
	if err := proto.Unmarshal(payload, r); err != nil {
		return nil, fmt.Errorf("decoding route: %w", err)
	}
	r.Revision, r.Etag = rev, Etag(rev)
	return r, nil
}

// Etag is the etag of a resource last written at rev.
func Etag(rev int64) string { return strconv.FormatInt(rev, 10) }

// ParseEtag returns the revision an etag names.
func ParseEtag(etag string) (int64, error) {
	rev, err := strconv.ParseInt(etag, 10, 64)
	if err != nil || rev <= 0 {
		return 0, fmt.Errorf("%q is not an etag of this API", etag)
	}
	return rev, nil
}

// GetRoute reads one route. model.ErrNotFound if it does not exist.
func (s *Store) GetRoute(ctx context.Context, name string) (*edgeplanev1.Route, error) {
	v, err := s.rdb.HGet(ctx, s.keys.routes, name).Result()
	if err != nil {
		return nil, mapErr(err, fmt.Sprintf("reading route %q", name))
	}
	rev, payload, err := splitValue(v)
	if err != nil {
		return nil, fmt.Errorf("reading route %q: %w", name, err)
	}
	return UnmarshalRoute(payload, rev)
}

// Snapshot reads the revision and every route in one MULTI/EXEC, so they are consistent.
func (s *Store) Snapshot(ctx context.Context) (int64, []*edgeplanev1.Route, error) {
	pipe := s.rdb.TxPipeline()
	revCmd := pipe.Get(ctx, s.keys.revision)
	allCmd := pipe.HGetAll(ctx, s.keys.routes)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, nil, mapErr(err, "reading snapshot")
	}
	rev, err := revCmd.Int64()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, nil, mapErr(err, "reading snapshot revision")
	}
	routes := make([]*edgeplanev1.Route, 0, len(allCmd.Val()))
	for name, v := range allCmd.Val() {
		rrev, payload, err := splitValue(v)
		if err != nil {
			return 0, nil, fmt.Errorf("reading route %q: %w", name, err)
		}
		r, err := UnmarshalRoute(payload, rrev)
		if err != nil {
			return 0, nil, fmt.Errorf("reading route %q: %w", name, err)
		}
		routes = append(routes, r)
	}
	return rev, routes, nil
}
