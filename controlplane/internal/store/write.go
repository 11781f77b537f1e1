package store

import (
	"context"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// writeScript commits one change: it checks the precondition, bumps the revision, writes or
// deletes the resource and appends the changelog entry whose stream ID is the revision.
//
// KEYS: revision, resource hash, changelog.
// ARGV: op (put|del), name, precondition (create|exists|any), expected revision ("" = any),
// payload, changelog MAXLEN, kind.
var writeScript = redis.NewScript(`
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if ARGV[3] == 'create' and cur then
  return redis.error_reply('` + errReplyExists + `')
end
if (ARGV[3] == 'exists' or ARGV[4] ~= '') and not cur then
  return redis.error_reply('` + errReplyNotFound + `')
end
if ARGV[4] ~= '' and string.match(cur, '^(%d+):') ~= ARGV[4] then
  return redis.error_reply('` + errReplyConflict + `')
end
local rev = redis.call('INCR', KEYS[1])
if ARGV[1] == 'put' then
  redis.call('HSET', KEYS[2], ARGV[2], rev .. ':' .. ARGV[5])
else
  redis.call('HDEL', KEYS[2], ARGV[2])
end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[6], rev .. '-0',
  'op', ARGV[1], 'kind', ARGV[7], 'name', ARGV[2], 'data', ARGV[5])
return rev
`)

// Precondition says what must hold before a write.
type Precondition int

const (
	// Any writes whether or not the resource exists.
	Any Precondition = iota
	// MustCreate fails with model.ErrAlreadyExists if it exists.
	MustCreate
	// MustExist fails with model.ErrNotFound if it does not.
	MustExist
)

func (p Precondition) arg() string {
	switch p {
	case MustCreate:
		return "create"
	case MustExist:
		return "exists"
	}
	return "any"
}

// Op is a change to one resource.
type Op struct {
	Kind    string // resource kind, e.g. "route"
	Name    string
	Delete  bool
	Payload []byte // serialized resource, for a put
	Pre     Precondition
	// IfRevision, when non-zero, requires the stored resource to be at exactly this revision
	// (its etag); otherwise the write fails with model.ErrConflict.
	IfRevision int64
}

// Commit applies op atomically and returns the new global revision.
func (s *Store) Commit(ctx context.Context, op Op) (int64, error) {
	hash, err := s.hashFor(op.Kind)
	if err != nil {
		return 0, err
	}
	verb := "put"
	if op.Delete {
		verb = "del"
	}
	ifRev := ""
	if op.IfRevision != 0 {
		ifRev = strconv.FormatInt(op.IfRevision, 10)
	}
	rev, err := writeScript.Run(ctx, s.rdb,
		[]string{s.keys.revision, hash, s.keys.changelog},
		verb, op.Name, op.Pre.arg(), ifRev, op.Payload, s.changelogLen, op.Kind,
	).Int64()
	if err != nil {
		return 0, mapErr(err, fmt.Sprintf("writing %s %q", op.Kind, op.Name))
	}
	return rev, nil
}

func (s *Store) hashFor(kind string) (string, error) {
	switch kind {
	case KindRoute:
		return s.keys.routes, nil
	}
	return "", fmt.Errorf("unknown resource kind %q", kind)
}

// Revision returns the current global config revision (0 before the first write).
func (s *Store) Revision(ctx context.Context) (int64, error) {
	rev, err := s.rdb.Get(ctx, s.keys.revision).Int64()
	if err == redis.Nil {
		return 0, nil
	}
	return rev, mapErr(err, "reading revision")
}
