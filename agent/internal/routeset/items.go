package routeset

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// items is one kind of config item (routes, certificates, challenges) keyed by name.
type items[T any] struct {
	by     map[string]T
	sorted []T // by key
}

// kind describes how an update carries one kind of item.
type kind[T any] struct {
	what    string // "route", for error messages
	key     func(T) string
	check   func(T) error
	upserts []T
	deletes []string
}

// apply returns prev with k's deletions and upserts (prev's items are dropped when
// snapshot is set). Items listed twice, or both upserted and deleted, are errors, and
// every upserted item must pass k.check.
func (k kind[T]) apply(prev items[T], snapshot bool) (items[T], error) {
	by := make(map[string]T, len(prev.by)+len(k.upserts))
	if !snapshot {
		maps.Copy(by, prev.by)
	}
	deleted := make(map[string]bool, len(k.deletes))
	for _, key := range k.deletes {
		deleted[key] = true
		delete(by, key)
	}
	seen := make(map[string]bool, len(k.upserts))
	for _, it := range k.upserts {
		key := k.key(it)
		switch {
		case seen[key]:
			return items[T]{}, fmt.Errorf("%s %q: listed twice in the update", k.what, key)
		case deleted[key]:
			return items[T]{}, fmt.Errorf("%s %q: both changed and deleted in the update", k.what, key)
		}
		seen[key] = true
		if err := k.check(it); err != nil {
			return items[T]{}, err
		}
		by[key] = it
	}
	sorted := slices.SortedFunc(maps.Values(by), func(a, b T) int { return strings.Compare(k.key(a), k.key(b)) })
	return items[T]{by: by, sorted: sorted}, nil
}
