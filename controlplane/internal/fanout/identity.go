package fanout

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// Identity is what an agent's verified client certificate says. Streams without one (TLS
// off) take the node id their Hello names.
type Identity struct {
	// Node is the certificate's CN: the only node id the stream may speak for.
	Node string
	// Fingerprint is the SHA-256 of the certificate.
	Fingerprint [32]byte
	// NotBefore is when the certificate was issued; revocations compare against it.
	NotBefore time.Time
	// NotAfter is when it expires. A renewal is refused before half its lifetime has passed
	// (agents renew at two thirds), so a stolen key cannot mint certificates at will.
	NotAfter time.Time
	// Labels come from the agent's join token and win over its Hello's.
	Labels map[string]string
}

// Bounds of what an agent sends.
const (
	maxLabels       = 64
	maxVersion      = 128
	maxConfigHash   = 128
	maxNackError    = 2048 // longer NACK errors are truncated, not refused
	truncatedSuffix = "… (truncated)"
)

// supersedes reports whether a new stream with identity n may replace one with o: always
// without certificates (TLS off), else only with the same certificate or one issued later
// (a renewed one). A stolen older certificate cannot knock the agent off.
func supersedes(n, o *Identity) bool {
	if n == nil || o == nil {
		return true
	}
	return n.Fingerprint == o.Fingerprint || n.NotBefore.After(o.NotBefore)
}

// checkHello enforces the bounds of a Hello and binds it to id.
func checkHello(h *edgeplanev1.Hello, id *Identity) error {
	bad := func(field, desc string) error {
		return &model.ValidationError{Violations: []model.FieldViolation{{Field: field, Description: desc}}}
	}
	switch {
	case !model.ValidNodeID(h.GetNodeId()):
		return bad("hello.node_id", fmt.Sprintf("%q is not a node id: 1-253 letters, digits, '.', '_' or '-'", clip(h.GetNodeId(), 300)))
	case id != nil && h.GetNodeId() != id.Node:
		return fmt.Errorf("%w: the Hello names node %q but the certificate is for %q", model.ErrDenied, h.GetNodeId(), id.Node)
	case model.LabelsProblem(h.GetLabels(), maxLabels) != "":
		return bad("hello.labels", model.LabelsProblem(h.GetLabels(), maxLabels))
	case len(h.GetVersion()) > maxVersion:
		return bad("hello.version", fmt.Sprintf("at most %d bytes", maxVersion))
	case len(h.GetConfigHash()) > maxConfigHash:
		return bad("hello.config_hash", fmt.Sprintf("at most %d bytes", maxConfigHash))
	}
	if id != nil && len(id.Labels) > 0 {
		labels := make(map[string]string, len(h.GetLabels())+len(id.Labels))
		for k, v := range h.GetLabels() {
			labels[k] = v
		}
		for k, v := range id.Labels {
			labels[k] = v
		}
		h.Labels = labels
	}
	return nil
}

// clip truncates s to at most n bytes on a UTF-8 boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len(truncatedSuffix)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedSuffix
}

// Revoke ends node's session on this replica, if it has one with a certificate.
func (f *Fanout) Revoke(node string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.sessions[node]; s != nil && s.id != nil {
		s.cancel(fmt.Errorf("%w: the agent's certificate was revoked", model.ErrDenied))
	}
}

// checkRevoked ends the sessions whose certificates were revoked: a safety net for
// revocation announcements a replica missed.
func (f *Fanout) checkRevoked(ctx context.Context) {
	f.mu.Lock()
	nodes := make([]string, 0, len(f.sessions))
	for node, s := range f.sessions {
		if s.id != nil {
			nodes = append(nodes, node)
		}
	}
	f.mu.Unlock()
	revoked, err := f.cfg.Store.RevokedAmong(ctx, nodes)
	if err != nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for node, at := range revoked {
		if s := f.sessions[node]; s != nil && s.id != nil && !s.id.NotBefore.After(at) {
			s.cancel(fmt.Errorf("%w: the agent's certificate was revoked", model.ErrDenied))
		}
	}
}

// TakenOver ends node's session on this replica if it holds a certificate and is not
// session: the agent's newer stream on another replica won (see claim).
func (f *Fanout) TakenOver(node, session string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.sessions[node]; s != nil && s.id != nil && s.token != session {
		s.cancel(errSuperseded)
	}
}

// claim records the certificate id connects with across replicas, refusing one older than
// the newest the node connected with (model.ErrDenied).
func (f *Fanout) claim(ctx context.Context, id *Identity) error {
	if id == nil {
		return nil
	}
	ok, err := f.cfg.Store.ClaimAgentCert(ctx, id.Node, id.NotBefore, id.Fingerprint)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: node %q has connected with a newer certificate", model.ErrDenied, id.Node)
	}
	return nil
}

// announce tells the other replicas that s now serves its node.
func (f *Fanout) announce(ctx context.Context, s *session) {
	if s.id == nil {
		return
	}
	if err := f.cfg.Store.AnnounceTakeover(ctx, s.node, s.token); err != nil {
		f.log.WarnContext(ctx, "announcing an agent's stream", "node_id", s.node, "err", err)
	}
}

// renewalDue reports whether id's certificate is past half its lifetime at now.
func (id *Identity) renewalDue(now time.Time) bool {
	return !now.Before(id.NotBefore.Add(id.NotAfter.Sub(id.NotBefore) / 2))
}
