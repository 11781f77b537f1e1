package store

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
)

// Durable state is what the store acknowledges to clients besides the config: port leases,
// admin and join tokens, the cluster CA, what agents enrolled with, certificates' metadata,
// ACME accounts, Docker service definitions. The config itself survives a wiped Redis
// through every replica's in-memory state (state.State and Restore); the durable state does
// through a mirror each replica keeps in memory (durable_*.go):
//
//   - every write to a durable key through this store is read back into the mirror before
//     the call returns (the hook in durable_hook.go), so whatever this replica acknowledged
//     is held here, and announced on keyspace.DurableChanged so the other replicas read the
//     same keys into theirs;
//   - every key's copy carries a mark, the primary's clock (µs) when it was read: of two
//     copies the later one is the key's state after every write acknowledged before it;
//   - the store's epoch (keyspace.Epoch) names its history. A replica that finds it gone or
//     changed knows the store was wiped and puts its mirror back (durable_restore.go): key by
//     key the latest copy of all replicas wins within a short window, expiry times are
//     absolute, a key deleted before the wipe stays deleted (its copy is a tombstone);
//   - port leases are refused while the store's epoch is not the one the replica's mirror
//     follows, and during the window, so no port is leased from a store still missing a
//     lease.

// durableExact and durablePrefixes name the durable keys, after the namespace prefix.
var (
	durableExact = map[string]bool{
		"ports": true, "ports:owners": true, "docker:services": true,
		"certificates:meta": true, "acme:accounts": true,
		"ca": true, "jointokens": true,
		"agents:revoked": true, "agents:enrolled": true, "agents:redis": true, "agents:certs": true,
		"tokens": true, "tokens:names": true,
	}
	durablePrefixes = []string{"ports:used:", "jointoken:"}
)

// durable reports whether key (a full key name) is durable state.
func (s *Store) durable(key string) bool {
	rest, ok := strings.CutPrefix(key, s.prefix())
	if !ok {
		return false
	}
	if durableExact[rest] {
		return true
	}
	for _, p := range durablePrefixes {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// bitmap reports whether key is a port bitmap, merged bit by bit on restore.
func (s *Store) bitmap(key string) bool {
	return strings.HasPrefix(key, s.prefix()+"ports:used:")
}

// copyOf is one durable key as a replica last read it. A hash is kept field by field, each
// field with the mark of the read that last saw it (or saw it gone), so a write can be
// followed by reading just the fields it changed.
type copyOf struct {
	mark     int64  // the primary's clock when read, µs
	typ      string // Redis type; "none" for a key that did not exist (a tombstone)
	expireAt int64  // absolute expiry, Unix ms; 0: none
	values   []string
	fields   map[string]fieldCopy // hashes
	partial  bool                 // a hash read field by field: fields holds only those
	// whole is the mark of the latest read of a whole hash: a field it did not list was
	// absent then.
	whole int64
}

// fieldCopy is one field of a hash as last read.
type fieldCopy struct {
	mark  int64
	value string
	gone  bool
}

// target is a key a write changed, and the hash fields it changed (nil: any).
type target struct {
	Key    string   `json:"k"`
	Fields []string `json:"f,omitempty"`
}

// merge returns old updated with the later read c of the same key.
func merge(old copyOf, had bool, c copyOf) copyOf {
	if c.typ != "hash" && !(c.typ == "none" && had && old.typ == "hash") {
		if had && old.mark > c.mark {
			return old
		}
		return c
	}
	if !had || old.typ != "hash" {
		old = copyOf{typ: "hash", fields: map[string]fieldCopy{}}
	}
	for f, fc := range c.fields {
		if cur, ok := old.fields[f]; !ok || cur.mark <= fc.mark {
			old.fields[f] = fc
		}
	}
	if !c.partial { // a whole read: fields it did not see are gone
		old.whole = max(old.whole, c.mark)
		for f, cur := range old.fields {
			if _, seen := c.fields[f]; !seen && !cur.gone && cur.mark <= c.mark {
				old.fields[f] = fieldCopy{mark: c.mark, gone: true}
			}
		}
	}
	if c.mark >= old.mark {
		old.mark, old.expireAt = c.mark, c.expireAt
	}
	return old
}

// mirror is this replica's copy of the durable keys.
type mirror struct {
	// running is set while RunDurable follows the store; fenced is the Unix time (ns) until
	// which durable writes through this replica are refused. Read on every command (hot).
	running atomic.Bool
	fenced  atomic.Int64

	mu    sync.Mutex        // guards epoch and keys
	epoch string            // the store history the copies belong to; "" before the first read
	keys  map[string]copyOf // key -> latest copy

	wake chan struct{} // nudges RunDurable to check the epoch (cap 1)
	// emptySeen counts checks that found no epoch before this replica had one; owned by
	// RunDurable's goroutine.
	emptySeen int
}

func newMirror() *mirror {
	return &mirror{keys: map[string]copyOf{}, wake: make(chan struct{}, 1)}
}

// apply takes the copies of a read made in epoch; false (nothing taken) if the mirror
// follows another epoch, which means the store was wiped.
func (m *mirror) apply(epoch string, copies map[string]copyOf) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.epoch == "" || epoch != m.epoch {
		return false
	}
	for k, c := range copies {
		old, had := m.keys[k]
		m.keys[k] = merge(old, had, c)
	}
	return true
}

func (m *mirror) nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// state returns the epoch followed and a deep copy of the keys.
func (m *mirror) state() (string, map[string]copyOf) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]copyOf, len(m.keys))
	for k, c := range m.keys {
		if c.fields != nil {
			f := make(map[string]fieldCopy, len(c.fields))
			for name, fc := range c.fields {
				f[name] = fc
			}
			c.fields = f
		}
		out[k] = c
	}
	return m.epoch, out
}

// held returns the names of the keys the mirror holds.
func (m *mirror) held() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]string, 0, len(m.keys))
	for k := range m.keys {
		out = append(out, k)
	}
	return out
}

// DurableEpoch is the store history this replica's mirror follows ("" when it follows
// none: RunDurable is not running or has not read the store yet).
func (s *Store) DurableEpoch() string {
	if !s.mirror.running.Load() {
		return ""
	}
	s.mirror.mu.Lock()
	defer s.mirror.mu.Unlock()
	return s.mirror.epoch
}

type ctxKey struct{}

// unmirrored marks a context whose commands the mirror's hook leaves alone (its own reads
// and restores).
func unmirrored(ctx context.Context) context.Context { return context.WithValue(ctx, ctxKey{}, true) }

func isUnmirrored(ctx context.Context) bool { return ctx.Value(ctxKey{}) != nil }
