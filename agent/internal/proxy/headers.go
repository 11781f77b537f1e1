package proxy

import (
	"net/http"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// headerRules are a route's header changes, canonicalised once when the table is built.
type headerRules struct {
	set    []headerValue
	remove []string
}

type headerValue struct {
	key   string
	value []string // shared by every request: len == cap, so an append copies
}

func newHeaderRules(r *edgeplanev1.HeaderRules) headerRules {
	var h headerRules
	for k, v := range r.GetSet() {
		h.set = append(h.set, headerValue{http.CanonicalHeaderKey(k), []string{v}[:1:1]})
	}
	for _, k := range r.GetRemove() {
		h.remove = append(h.remove, http.CanonicalHeaderKey(k))
	}
	return h
}

func (h headerRules) empty() bool { return len(h.set) == 0 && len(h.remove) == 0 }

// apply removes, then sets, so a header both removed and set ends up set.
func (h headerRules) apply(hdr http.Header) {
	for _, k := range h.remove {
		delete(hdr, k)
	}
	for _, s := range h.set {
		hdr[s.key] = s.value
	}
}
