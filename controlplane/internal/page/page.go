// Package page splits ordered results into pages with opaque page tokens (AIP-158).
package page

import (
	"encoding/base64"
	"sort"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// Sizes of List pages.
const (
	DefaultSize = 100
	MaxSize     = 1000
)

// Slice returns the page of all (ordered by key, ascending and unique) that follows the item
// named by token, and the token of the next page ("" on the last one). A bad size or token is
// a *model.ValidationError naming page_size or page_token.
func Slice[T any](all []T, key func(T) string, size int, token string) ([]T, string, error) {
	if size < 0 {
		return nil, "", invalid("page_size", "must not be negative")
	}
	if size == 0 {
		size = DefaultSize
	}
	size = min(size, MaxSize)
	start := 0
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(after) == 0 {
			return nil, "", invalid("page_token", "not a token from a previous page")
		}
		start = sort.Search(len(all), func(i int) bool { return key(all[i]) > string(after) })
	}
	end := min(start+size, len(all))
	items := all[start:end]
	next := ""
	if end < len(all) {
		next = base64.RawURLEncoding.EncodeToString([]byte(key(items[len(items)-1])))
	}
	return items, next, nil
}

func invalid(field, desc string) error {
	return &model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: desc}}}
}

// Fit cuts items (a page from Slice) so that the sizes of those kept add up to at most
// budget bytes, keeping at least one, and returns them with the token of the page after
// the last one kept: next when nothing was cut. It bounds a response whose items vary in
// size.
func Fit[T any](items []T, key func(T) string, size func(T) int, budget int, next string) ([]T, string) {
	total := 0
	for i, it := range items {
		total += size(it)
		if total > budget && i > 0 {
			return items[:i], base64.RawURLEncoding.EncodeToString([]byte(key(items[i-1])))
		}
	}
	return items, next
}
