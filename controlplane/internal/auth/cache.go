package auth

import (
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
)

// tokenCache remembers token lookups (found or not) for ttl, at most max of them, so a
// call costs a Redis round trip only when its token has not been seen for ttl.
type tokenCache struct {
	ttl time.Duration
	max int

	mu      sync.Mutex // guards entries
	entries map[string]cachedToken
}

type cachedToken struct {
	tok *store.Token // nil: no such token
	at  time.Time
}

func newTokenCache(ttl time.Duration, max int) *tokenCache {
	return &tokenCache{ttl: ttl, max: max, entries: make(map[string]cachedToken)}
}

// get returns the cached lookup of hash if it is younger than ttl.
func (c *tokenCache) get(hash string, now time.Time) (*store.Token, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[hash]
	if !ok || now.Sub(e.at) >= c.ttl {
		return nil, false
	}
	return e.tok, true
}

// put remembers a lookup. When full it drops the stale entries, then any one.
func (c *tokenCache) put(hash string, tok *store.Token, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[hash]; !ok && len(c.entries) >= c.max {
		for h, e := range c.entries {
			if now.Sub(e.at) >= c.ttl {
				delete(c.entries, h)
			}
		}
		for h := range c.entries {
			if len(c.entries) < c.max {
				break
			}
			delete(c.entries, h)
		}
	}
	c.entries[hash] = cachedToken{tok: tok, at: now}
}

// forget drops hash, so a token deleted through this replica stops working at once.
func (c *tokenCache) forget(hash string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, hash)
}
