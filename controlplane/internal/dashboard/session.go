package dashboard

import (
	"container/list"
	"crypto/rand"
	"encoding/base64"
	"sync"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/auth"
)

// session is one logged-in visitor.
type session struct {
	id    string
	token string // the API token, sent with every gRPC call; never leaves this process
	who   auth.Principal
	born  time.Time
	used  time.Time
	elem  *list.Element
}

// sessions holds the logged-in visitors, at most max, dropping the least recently used.
type sessions struct {
	ttl time.Duration
	max int

	mu   sync.Mutex // guards byID, lru and the sessions in them
	byID map[string]*session
	lru  *list.List // of *session, most recently used first
}

func newSessions(ttl time.Duration, max int) *sessions {
	return &sessions{ttl: ttl, max: max, byID: map[string]*session{}, lru: list.New()}
}

// newID returns a random session id (256 bits).
func newID() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// create starts a session for who, holding token, and returns its id.
func (s *sessions) create(token string, who auth.Principal, now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.byID) >= s.max {
		s.drop(s.lru.Back().Value.(*session))
	}
	se := &session{id: newID(), token: token, who: who, born: now, used: now}
	se.elem = s.lru.PushFront(se)
	s.byID[se.id] = se
	return se.id
}

// get returns the live session id names (a copy), refreshing its idle timer.
func (s *sessions) get(id string, now time.Time) (session, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	se, ok := s.byID[id]
	if !ok {
		return session{}, false
	}
	if now.Sub(se.used) >= s.ttl || now.Sub(se.born) >= MaxSessionAge {
		s.drop(se)
		return session{}, false
	}
	se.used = now
	s.lru.MoveToFront(se.elem)
	return *se, true
}

// remove ends the session id names, if any.
func (s *sessions) remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.byID[id]; ok {
		s.drop(se)
	}
}

func (s *sessions) drop(se *session) {
	s.lru.Remove(se.elem)
	delete(s.byID, se.id)
}
