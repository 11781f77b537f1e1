package proxy

import (
	"net"
	"net/http"
	"sync"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Timeouts used when a route leaves one at zero.
const (
	DefaultConnectTimeout  = 10 * time.Second
	DefaultResponseTimeout = 60 * time.Second
	DefaultIdleTimeout     = 90 * time.Second
)

// transportKey identifies the routes that can share one http.Transport (and so one pool of
// backend connections).
type transportKey struct{ connect, response, idle time.Duration }

func keyFor(t *edgeplanev1.Timeouts) transportKey {
	or := func(d, def time.Duration) time.Duration {
		if d <= 0 {
			return def
		}
		return d
	}
	return transportKey{
		connect:  or(t.GetConnect().AsDuration(), DefaultConnectTimeout),
		response: or(t.GetResponse().AsDuration(), DefaultResponseTimeout),
		idle:     or(t.GetIdle().AsDuration(), DefaultIdleTimeout),
	}
}

// transports keeps one http.Transport per transportKey across tables, so a config change
// does not drop the connections to backends.
type transports struct {
	mu sync.Mutex // guards m
	m  map[transportKey]*http.Transport
}

func newTransports() *transports {
	return &transports{m: make(map[transportKey]*http.Transport)}
}

func (ts *transports) get(k transportKey) *http.Transport {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.m[k]
	if t == nil {
		t = newTransport(k)
		ts.m[k] = t
	}
	return t
}

// current reports whether k's transport is still in the pool.
func (ts *transports) current(k transportKey) bool {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.m[k] != nil
}

// retain drops the transports whose key is not in used, closing their idle connections.
// A table still using one keeps working; it just opens new connections.
func (ts *transports) retain(used map[transportKey]bool) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	for k, t := range ts.m {
		if !used[k] {
			t.CloseIdleConnections()
			delete(ts.m, k)
		}
	}
}

func newTransport(k transportKey) *http.Transport {
	d := &net.Dialer{Timeout: k.connect, KeepAlive: 30 * time.Second}
	return &http.Transport{
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no global limit; per host below
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       k.idle,
		ResponseHeaderTimeout: k.response,
		TLSHandshakeTimeout:   k.connect,
		ExpectContinueTimeout: time.Second,
	}
}
