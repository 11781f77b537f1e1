package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// MetaCertificate names certificates' metadata (what CertificateService shows) in a batch
// Write; it is not config, so it takes no revision and no changelog entry.
const MetaCertificate = "certificate-meta"

// Write is one object of a batch.
type Write struct {
	// Kind is a config kind (KindRoute, ...) or MetaCertificate.
	Kind string
	Name string
	// Value is the object to store; nil deletes it.
	Value proto.Message
	Pre   Precondition
	// IfVersion, when non-zero, requires the stored object to be at exactly this version
	// (its etag): model.ErrConflict otherwise.
	IfVersion int64
}

// batchScript checks every write's precondition, then makes all of them: the config writes
// at one new revision with one changelog entry ("op" "batch", "data" holding each change as
// "<op> <kind> <name> <payload length>\n<payload>", see parseBatch), the metadata writes
// with their versions bumped. Nothing is written when any check fails.
//
// KEYS: revision, changelog, then the hash of each write.
// ARGV: fresh, changelog MAXLEN, then per write: op (put|del), name, precondition
// (create|exists|any), expected version ("" = any), payload, changelog kind ("" = metadata).
// Returns the new revision (0 when no write was config).
var batchScript = newScript(`
local n = #KEYS - 2
local config = false
for i = 1, n do
  if ARGV[2 + 6 * i] ~= '' then config = true end
end
if config then ep_live(KEYS[1], ARGV[1]) end
local vs = {}
for i = 1, n do
  local a = 6 * (i - 1) + 2
  vs[i] = ep_check(KEYS[i + 2], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4])
end
local rev = 0
if config then rev = redis.call('INCR', KEYS[1]) end
local log = {}
for i = 1, n do
  local a = 6 * (i - 1) + 2
  local op, name, payload, kind = ARGV[a + 1], ARGV[a + 2], ARGV[a + 5], ARGV[a + 6]
  if kind == '' then
    ep_set(KEYS[i + 2], name, op, vs[i] + 1, payload)
  else
    ep_set(KEYS[i + 2], name, op, rev, payload)
    table.insert(log, op .. ' ' .. kind .. ' ' .. name .. ' ' .. #payload .. '\n' .. payload)
  end
end
if config then
  local at, prev = ep_chain(KEYS[2], rev)
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], rev .. '-0', 'op', 'batch', 'kind', 'batch',
    'name', tostring(#log), 'data', table.concat(log), 'at', at, 'prev', prev)
end
return rev
`)

// CommitBatch checks every write's precondition and then makes them all at once: the
// config writes as one revision (agents see them in one update), or nothing at all. It
// returns the new revision, 0 when no write was config. fresh is as in Op.Fresh. The
// error of a failed check wraps model.ErrAlreadyExists, ErrNotFound or ErrConflict
// without saying which write failed: callers check their own preconditions first.
func (s *Store) CommitBatch(ctx context.Context, writes []Write, fresh bool) (int64, error) {
	keys := make([]string, 2, 2+len(writes))
	keys[0], keys[1] = s.keys.revision, s.keys.changelog
	f := ""
	if fresh {
		f = "1"
	}
	args := make([]any, 0, 2+6*len(writes))
	args = append(args, f, s.changelogLen)
	for _, w := range writes {
		if w.Name == "" || strings.ContainsAny(w.Name, " \n") {
			return 0, fmt.Errorf("committing %s %q: a batch name must be non-empty, without spaces or newlines", w.Kind, w.Name)
		}
		key, payload, kind, err := s.batchArgs(w)
		if err != nil {
			return 0, err
		}
		op, ifv := "put", ""
		if w.Value == nil {
			op = "del"
		}
		if w.IfVersion != 0 {
			ifv = strconv.FormatInt(w.IfVersion, 10)
		}
		keys = append(keys, key)
		args = append(args, op, w.Name, w.Pre.arg(), ifv, payload, kind)
	}
	rev, err := s.runScript(ctx, batchScript, keys, args...).Int64()
	return rev, mapErr(err, fmt.Sprintf("committing %d writes", len(writes)))
}

// batchArgs returns the hash, the encoded value and the changelog kind of w.
func (s *Store) batchArgs(w Write) (string, []byte, string, error) {
	if w.Kind == MetaCertificate {
		if w.Value == nil {
			return s.keys.certMeta, nil, "", nil
		}
		c, ok := w.Value.(*edgeplanev1.Certificate)
		if !ok {
			return "", nil, "", fmt.Errorf("certificate metadata %q: got a %T", w.Name, w.Value)
		}
		_, payload, err := encodeCertMeta(c)
		return s.keys.certMeta, payload, "", err
	}
	hash, err := s.hashFor(w.Kind)
	if err != nil {
		return "", nil, "", err
	}
	if w.Value == nil {
		return hash, nil, w.Kind, nil
	}
	payload, err := s.Encode(w.Kind, w.Value)
	return hash, payload, w.Kind, err
}
