// Package cowmap is an immutable string-keyed map whose edits cost O(changed keys), not
// O(size): the keys are spread over a fixed number of shards (plain Go maps), and an edit
// copies only the shards it touches and shares the others with the map it started from.
//
// It lets the agent move a 100,000-route config to its next revision without copying it:
// a one-route change copies one shard (about size/256 entries) and the shard array.
// Lookups are one hash of the key plus one map lookup, with no allocation.
package cowmap

import (
	"hash/maphash"
	"iter"
	"maps"
)

const (
	shardBits = 8
	shards    = 1 << shardBits
)

var seed = maphash.MakeSeed()

func shardOf(key string) int { return int(maphash.String(seed, key) & (shards - 1)) }

// Map is an immutable map from string to V. The zero Map is empty and ready to use. Maps
// are values: copying one is cheap and the copies share their contents.
type Map[V any] struct {
	s *[shards]map[string]V // nil: empty; a nil shard is empty
	n int
}

// Get returns the value for key and whether it is present.
func (m Map[V]) Get(key string) (V, bool) {
	if m.s == nil {
		var zero V
		return zero, false
	}
	v, ok := m.s[shardOf(key)][key]
	return v, ok
}

// Len returns the number of keys in m.
func (m Map[V]) Len() int { return m.n }

// All yields every key and value of m, in no particular order.
func (m Map[V]) All() iter.Seq2[string, V] {
	return func(yield func(string, V) bool) {
		if m.s == nil {
			return
		}
		for _, sh := range m.s {
			for k, v := range sh {
				if !yield(k, v) {
					return
				}
			}
		}
	}
}

// Edit returns a Builder that starts from m. m itself never changes.
func (m Map[V]) Edit() *Builder[V] {
	b := &Builder[V]{s: new([shards]map[string]V), n: m.n}
	if m.s != nil {
		*b.s = *m.s
	}
	return b
}

// Builder makes a new Map from an old one by a few Sets and Deletes. It copies a shard the
// first time it changes it. A Builder is not safe for concurrent use.
type Builder[V any] struct {
	s     *[shards]map[string]V
	owned [shards / 64]uint64 // shards copied by this Builder (safe to write)
	n     int
	done  bool
}

// Get returns the value for key in the map being built.
func (b *Builder[V]) Get(key string) (V, bool) {
	v, ok := b.s[shardOf(key)][key]
	return v, ok
}

// Len returns the number of keys in the map being built.
func (b *Builder[V]) Len() int { return b.n }

func (b *Builder[V]) shard(i int) map[string]V {
	if b.done {
		panic("cowmap: Builder used after Map")
	}
	if b.owned[i/64]&(1<<(i%64)) == 0 {
		cp := maps.Clone(b.s[i])
		if cp == nil {
			cp = make(map[string]V)
		}
		b.s[i] = cp
		b.owned[i/64] |= 1 << (i % 64)
	}
	return b.s[i]
}

// Set maps key to v.
func (b *Builder[V]) Set(key string, v V) {
	sh := b.shard(shardOf(key))
	if _, ok := sh[key]; !ok {
		b.n++
	}
	sh[key] = v
}

// Delete removes key; a missing key is ignored.
func (b *Builder[V]) Delete(key string) {
	i := shardOf(key)
	if _, ok := b.s[i][key]; !ok {
		return
	}
	delete(b.shard(i), key)
	b.n--
}

// Map returns the map built. The Builder must not be used afterwards.
func (b *Builder[V]) Map() Map[V] {
	b.done = true
	if b.n == 0 {
		return Map[V]{}
	}
	return Map[V]{s: b.s, n: b.n}
}
