package routeset

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/agent/internal/cowmap"
)

// kind describes how an update carries one kind of item.
type kind[T proto.Message] struct {
	what    string // "route", for error messages
	tag     byte   // the kind's part of every item hash, so equal bytes of two kinds differ
	key     func(T) string
	check   func(T) error
	upserts []T
	deletes []string
}

// apply returns prev with k's deletions and upserts (prev's items are dropped when
// snapshot is set), the keys it changed, and updates sum: each item's hash leaves it and
// enters it as the item does. Items listed twice, or both upserted and deleted, are
// errors, and every upserted item must pass k.check. The work is O(items in the update).
func (k kind[T]) apply(prev cowmap.Map[T], snapshot bool, sum *digest) (cowmap.Map[T], []string, error) {
	if snapshot {
		prev = cowmap.Map[T]{}
	} else if len(k.upserts) == 0 && len(k.deletes) == 0 {
		return prev, nil, nil
	}
	b := prev.Edit()
	var deleted map[string]bool
	if len(k.deletes) > 0 {
		deleted = make(map[string]bool, len(k.deletes))
	}
	changed := make([]string, 0, len(k.deletes)+len(k.upserts))
	for _, key := range k.deletes {
		deleted[key] = true
		if old, ok := b.Get(key); ok {
			if err := sum.sub(k.tag, old); err != nil {
				return cowmap.Map[T]{}, nil, err
			}
			b.Delete(key)
			changed = append(changed, key)
		}
	}
	seen := make(map[string]bool, len(k.upserts))
	for _, it := range k.upserts {
		key := k.key(it)
		switch {
		case seen[key]:
			return cowmap.Map[T]{}, nil, fmt.Errorf("%s %q: listed twice in the update", k.what, key)
		case deleted[key]:
			return cowmap.Map[T]{}, nil, fmt.Errorf("%s %q: both changed and deleted in the update", k.what, key)
		}
		seen[key] = true
		if err := k.check(it); err != nil {
			return cowmap.Map[T]{}, nil, err
		}
		if old, ok := b.Get(key); ok {
			if err := sum.sub(k.tag, old); err != nil {
				return cowmap.Map[T]{}, nil, err
			}
		}
		if err := sum.add(k.tag, it); err != nil {
			return cowmap.Map[T]{}, nil, err
		}
		b.Set(key, it)
		changed = append(changed, key)
	}
	return b.Map(), changed, nil
}

// sortedValues returns m's values sorted by key.
func sortedValues[T any](m cowmap.Map[T]) []T {
	type kv struct {
		k string
		v T
	}
	all := make([]kv, 0, m.Len())
	for k, v := range m.All() {
		all = append(all, kv{k, v})
	}
	slices.SortFunc(all, func(a, b kv) int { return strings.Compare(a.k, b.k) })
	out := make([]T, len(all))
	for i, e := range all {
		out[i] = e.v
	}
	return out
}

// digest is an order-independent sum of item hashes: four 64-bit lanes, each the sum
// modulo 2^64 of the matching quarter of every item's SHA-256. Adding and removing an item
// costs one hash of that item, so the config hash follows a delta in O(changed items), and
// equal contents give equal digests whatever the order of arrival.
type digest [4]uint64

// Item tags (the ConfigUpdate field numbers of each kind).
const (
	tagRoute       = 3
	tagCertificate = 6
	tagChallenge   = 8
	tagService     = 11
)

func itemHash(tag byte, m proto.Message) ([4]uint64, error) {
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return [4]uint64{}, fmt.Errorf("hashing config: %w", err)
	}
	h := sha256.New()
	h.Write([]byte{tag})
	h.Write(b)
	var sum [32]byte
	h.Sum(sum[:0])
	var out [4]uint64
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(sum[8*i:])
	}
	return out, nil
}

func (d *digest) add(tag byte, m proto.Message) error {
	h, err := itemHash(tag, m)
	for i := range d {
		d[i] += h[i]
	}
	return err
}

func (d *digest) sub(tag byte, m proto.Message) error {
	h, err := itemHash(tag, m)
	for i := range d {
		d[i] -= h[i]
	}
	return err
}

// String is the config hash of d: the first 16 hex digits of the SHA-256 of its lanes.
func (d *digest) String() string {
	var b [32]byte
	for i, v := range d {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	sum := sha256.Sum256(b[:])
	return fmt.Sprintf("%x", sum[:8])
}
