package store

import (
	"context"
	"fmt"
	"strconv"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

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

// Get reads one resource. model.ErrNotFound if it does not exist.
func (s *Store) Get(ctx context.Context, kind, name string) (Item, error) {
	hash, err := s.hashFor(kind)
	if err != nil {
		return Item{}, err
	}
	v, err := s.rdb.HGet(ctx, hash, name).Result()
	if err != nil {
		return Item{}, mapErr(err, fmt.Sprintf("reading %s %q", kind, name))
	}
	return s.decodeValue(kind, name, v)
}

// GetRoute reads one route. model.ErrNotFound if it does not exist.
func (s *Store) GetRoute(ctx context.Context, name string) (*edgeplanev1.Route, error) {
	it, err := s.Get(ctx, KindRoute, name)
	if err != nil {
		return nil, err
	}
	return it.Value.(*edgeplanev1.Route), nil
}

func (s *Store) decodeValue(kind, name, v string) (Item, error) {
	rev, payload, err := splitValue(v)
	if err != nil {
		return Item{}, fmt.Errorf("reading %s %q: %w", kind, name, err)
	}
	m, err := s.Decode(kind, payload, rev)
	if err != nil {
		return Item{}, fmt.Errorf("reading %s %q: %w", kind, name, err)
	}
	return Item{Kind: kind, Name: name, Revision: rev, Value: m}, nil
}
