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
// payload, changelog MAXLEN, kind, fresh ("1" when the caller believes the store is new).
//
// A store without a revision key is either new or was wiped (a Redis restarted without
// persistence). Only a caller that has never seen a revision may write to it; others get
// EDGEPLANE_WIPED until a replica restores the config it holds in memory (see Restore).
var writeScript = newScript(`
ep_live(KEYS[1], ARGV[8])
ep_check(KEYS[2], ARGV[2], ARGV[3], ARGV[4])
local rev = redis.call('INCR', KEYS[1])
ep_set(KEYS[2], ARGV[2], ARGV[1], rev, ARGV[5])
ep_log(KEYS[3], ARGV[6], rev, ARGV[1], ARGV[7], ARGV[2], ARGV[5])
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
	// Fresh allows the write on a store that has no revision yet. Set it only when the
	// caller has never seen a revision; otherwise a wiped store fails with
	// model.ErrUnavailable until it is restored.
	Fresh bool
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
	fresh := ""
	if op.Fresh {
		fresh = "1"
	}
	rev, err := s.runScript(ctx, writeScript,
		[]string{s.keys.revision, hash, s.keys.changelog},
		verb, op.Name, op.Pre.arg(), ifRev, op.Payload, s.changelogLen, op.Kind, fresh,
	).Int64()
	if err != nil {
		return 0, mapErr(err, fmt.Sprintf("writing %s %q", op.Kind, op.Name))
	}
	return rev, nil
}

// Revision returns the current global config revision (0 before the first write).
func (s *Store) Revision(ctx context.Context) (int64, error) {
	rev, err := s.rdb.Get(ctx, s.keys.revision).Int64()
	if err == redis.Nil {
		return 0, nil
	}
	return rev, mapErr(err, "reading revision")
}
