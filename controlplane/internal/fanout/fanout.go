// Package fanout serves agents' config streams. Each connected agent has one session that
// sends it a snapshot or a delta from the revision it serves, then one update per change,
// with at most one update unanswered: changes that arrive while an agent is applying are
// coalesced into its next delta. A NACKed revision is never resent; the next change is a new
// attempt from the revision the agent still serves. Session status (applied revision, last
// error, last seen) is written to the store in batches so every replica can answer for it.
package fanout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Config configures a Fanout.
type Config struct {
	// State is the config to distribute. Required.
	State *state.State
	// Store receives agent statuses. Required.
	Store *store.Store
	// ReplicaID names this control-plane replica in agent statuses. Required.
	ReplicaID string
	// Heartbeat is how often each session's last_seen is refreshed; an agent whose status is
	// older than three heartbeats counts as disconnected. Default 5s.
	Heartbeat time.Duration
	// MinUpdateInterval caps the spacing of an agent's updates: changes arriving sooner after
	// the last update are coalesced into the next one, which bounds the work of a storm of
	// writes. The spacing grows with the fleet (200µs per connected agent up to this cap), so
	// a small fleet sees every change at once. Default 20ms; negative disables it.
	MinUpdateInterval time.Duration
	// MaxMessageBytes is the largest update sent as one message; a larger snapshot is sent
	// in chunks of at most a quarter of it, and a larger delta is replaced by a snapshot.
	// Default DefaultMaxMessageBytes.
	MaxMessageBytes int
	// HelloTimeout bounds the wait for an agent's Hello. Default 10s.
	HelloTimeout time.Duration
	// Events receives agent_connected, agent_disconnected and config_rejected. Nil drops them.
	Events *telemetry.Events
	// Settings, if set, returns an agent's own settings (its Redis credentials), sent when
	// its stream opens; nil means none.
	Settings func(ctx context.Context, node string) *edgeplanev1.AgentSettings
	// Renew, if set, signs a certificate request of an agent authenticated as node and
	// returns the PEM certificate and CA. Nil: renewals are refused.
	Renew func(csrPEM []byte, node string) (certPEM, caPEM []byte, err error)
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Fanout owns the agent sessions of one replica. Its methods are safe for concurrent use.
type Fanout struct {
	cfg Config
	log *slog.Logger
	rec *recorder
	enc encoder

	mu       sync.Mutex // guards sessions, conns, connOf
	sessions map[string]*session
	// conns groups the sessions by the connection their stream came on (the peer's address),
	// for the broadcaster to walk one connection's sessions after another; connOf is each
	// session's key in it. A superseded session leaves both with the node's sessions entry.
	conns     map[string]map[*session]struct{}
	connOf    map[*session]string
	connected atomic.Int64 // len(sessions), read on the send path without the lock
}

// New returns a Fanout. Run must be running for statuses to reach the store.
func New(cfg Config) *Fanout {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.MinUpdateInterval == 0 {
		cfg.MinUpdateInterval = 20 * time.Millisecond
	}
	if cfg.MaxMessageBytes <= 0 {
		cfg.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if cfg.HelloTimeout <= 0 {
		cfg.HelloTimeout = 10 * time.Second
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Fanout{cfg: cfg, log: log, rec: newRecorder(cfg.Store, log), sessions: map[string]*session{},
		conns: map[string]map[*session]struct{}{}, connOf: map[*session]string{}}
}

// Run tells sessions about changes, writes session statuses to the store and refreshes
// heartbeats until ctx ends. Sessions send no change while it is not running.
func (f *Fanout) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.heartbeat(ctx) }()
	go func() { defer wg.Done(); f.broadcast(ctx) }()
	err := f.rec.run(ctx)
	wg.Wait()
	return err
}

// broadcast hands every change of the state to every session. One goroutine walks the
// sessions and sends each idle agent its small update itself (sendDirect); it wakes a
// session's loop only for what could block (a large update, the spacing, a session busy
// sending). So a change costs no session a select over a channel the whole fleet shares.
//
// It walks the sessions one connection after another (agents may share a connection, as
// the propagation benchmark's 10,000 agents share 51): each connection's writer goroutine
// then gets its updates in one run, and writes them in a few large writes after a wake-up
// or two, not in a small write after each of many wake-ups as when every connection got
// every 51st update.
func (f *Fanout) broadcast(ctx context.Context) {
	var all []*session
	for {
		changed, _, _ := f.cfg.State.Watch()
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		f.mu.Lock()
		all = f.appendByConnLocked(all[:0])
		f.mu.Unlock()
		p := f.newPass()
		for _, s := range all {
			if !f.sendDirect(s, p) {
				s.kickSelf()
			}
		}
		clear(all) // keep no closed session alive until the next change
	}
}

// appendByConnLocked appends every session to all, one connection's after another. f.mu
// must be held.
func (f *Fanout) appendByConnLocked(all []*session) []*session {
	for _, conn := range f.conns {
		for s := range conn {
			all = append(all, s)
		}
	}
	return all
}

// Connected returns the number of agents connected to this replica.
func (f *Fanout) Connected() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.sessions)
}

func (f *Fanout) heartbeat(ctx context.Context) {
	t := time.NewTicker(f.cfg.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		f.mu.Lock()
		for _, s := range f.sessions {
			f.rec.mark(s)
		}
		f.mu.Unlock()
		f.checkRevoked(ctx)
	}
}

// spacing is the least time between two updates to one agent, given the fleet's size.
func (f *Fanout) spacing() time.Duration {
	return min(f.cfg.MinUpdateInterval, time.Duration(f.connected.Load())*200*time.Microsecond)
}

// register makes s, whose stream came on connection conn, the node's session on this
// replica, cancelling an older one, unless the older one holds a certificate s may not
// supersede: then s is refused (model.ErrDenied).
func (f *Fanout) register(s *session, conn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if old := f.sessions[s.node]; old != nil {
		if !supersedes(s.id, old.id) {
			return fmt.Errorf("%w: node %q is connected with another certificate", model.ErrDenied, s.node)
		}
		old.cancel(errSuperseded)
		f.leaveConnLocked(old)
	}
	f.sessions[s.node] = s
	f.connected.Store(int64(len(f.sessions)))
	group := f.conns[conn]
	if group == nil {
		group = map[*session]struct{}{}
		f.conns[conn] = group
	}
	group[s] = struct{}{}
	f.connOf[s] = conn
	return nil
}

// leaveConnLocked takes s out of its connection's group, if it is still in one. f.mu must be
// held.
func (f *Fanout) leaveConnLocked(s *session) {
	conn, ok := f.connOf[s]
	if !ok {
		return
	}
	delete(f.connOf, s)
	delete(f.conns[conn], s)
	if len(f.conns[conn]) == 0 {
		delete(f.conns, conn)
	}
}

// errSuperseded ends a session replaced by a newer stream of the same agent.
var errSuperseded = errors.New("replaced by a newer stream of the same agent")

func (f *Fanout) unregister(s *session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sessions[s.node] == s {
		delete(f.sessions, s.node)
	}
	f.leaveConnLocked(s)
	f.connected.Store(int64(len(f.sessions)))
}
