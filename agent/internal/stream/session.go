package stream

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"google.golang.org/grpc"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
)

type connectStream = grpc.BidiStreamingClient[edgeplanev1.AgentMessage, edgeplanev1.ControlMessage]

// session runs one stream until it breaks. applied reports whether any update was applied.
func (c *Client) session(ctx context.Context) (applied bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	var reporting sync.WaitGroup
	defer func() { cancel(); reporting.Wait() }()
	defer c.stopRenewal()
	st, err := c.api.Connect(ctx)
	if err != nil {
		return false, fmt.Errorf("opening config stream: %w", err)
	}
	if err := st.Send(c.hello()); err != nil {
		return false, fmt.Errorf("sending hello: %w", err)
	}
	if err := c.renew(st, cancel); err != nil {
		return false, err
	}
	if c.cfg.TargetHealth != nil {
		reporting.Add(1)
		go func() { defer reporting.Done(); c.reportHealth(ctx, st) }()
	}
	asm := c.assembly()
	for first := true; ; first = false {
		msg, err := st.Recv()
		if err != nil {
			return applied, fmt.Errorf("receiving config: %w", err)
		}
		if first && c.cfg.OnConnected != nil {
			c.cfg.OnConnected(true)
			defer c.cfg.OnConnected(false)
		}
		u := msg.GetUpdate()
		if u == nil {
			c.other(ctx, msg, cancel)
			continue
		}
		reply, ok := c.update(ctx, asm, u)
		if reply == nil {
			continue // more chunks are due, or this one was dropped
		}
		applied = applied || ok
		if err := c.send(st, reply); err != nil {
			return applied, fmt.Errorf("answering revision %d: %w", u.GetRevision(), err)
		}
		if c.resync {
			c.sendMu.Lock() // no report after the half-close
			defer c.sendMu.Unlock()
			closeGently(st, cancel)
			return applied, errResync
		}
	}
}

// update handles one ConfigUpdate, a whole one or a chunk. It returns the Ack or Nack to send
// (nil while a chunked snapshot is incomplete or u was dropped) and whether it applied one.
func (c *Client) update(ctx context.Context, asm *assembly, u *edgeplanev1.ConfigUpdate) (*edgeplanev1.AgentMessage, bool) {
	whole, reply := c.assemble(ctx, asm, u)
	if whole == nil {
		return reply, false
	}
	return c.handle(ctx, whole)
}

// assembly returns an empty assembly with the configured bounds.
func (c *Client) assembly() *assembly {
	a := &assembly{maxBytes: c.cfg.MaxSnapshotBytes, maxChunks: c.cfg.MaxChunks}
	if a.maxBytes <= 0 {
		a.maxBytes = DefaultMaxSnapshotBytes
	}
	if a.maxChunks == 0 {
		a.maxChunks = DefaultMaxChunks
	}
	return a
}

// assemble passes u through asm: it returns u itself when it is not a chunk, the whole
// snapshot when u is its last chunk, a Nack when u breaks the assembly's bounds, and nil and
// nil while more chunks are due or when u was dropped.
func (c *Client) assemble(ctx context.Context, asm *assembly, u *edgeplanev1.ConfigUpdate) (*edgeplanev1.ConfigUpdate, *edgeplanev1.AgentMessage) {
	if u.GetChunkCount() == 0 {
		asm.reset()
		return u, nil
	}
	whole, err := asm.add(u)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "config rejected", slog.Int64("revision", u.GetRevision()), slog.Any("error", err))
		return nil, nack(u.GetRevision(), err)
	}
	return whole, nil
}

func (c *Client) hello() *edgeplanev1.AgentMessage {
	rev, hash := c.cfg.Applier.Serving()
	if c.resync {
		rev, hash = 0, ""
	}
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Hello{Hello: &edgeplanev1.Hello{
		NodeId: c.cfg.NodeID, Labels: c.cfg.Labels, Version: c.cfg.Version, Revision: rev, ConfigHash: hash,
	}}}
}

// handle applies u and returns the Ack or Nack to send, and whether u was applied. A delta
// that does not fit the served revision is refused and sets c.resync.
func (c *Client) handle(ctx context.Context, u *edgeplanev1.ConfigUpdate) (*edgeplanev1.AgentMessage, bool) {
	serving, _ := c.cfg.Applier.Serving()
	if !u.GetSnapshot() && u.GetBaseRevision() != serving {
		c.resync = true
		err := fmt.Errorf("delta to revision %d is based on revision %d but the agent serves %d; reconnecting for a snapshot",
			u.GetRevision(), u.GetBaseRevision(), serving)
		return nack(u.GetRevision(), err), false
	}
	start := time.Now()
	hash, err := c.cfg.Applier.Apply(ctx, u)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "config rejected", slog.Int64("revision", u.GetRevision()), slog.Any("error", err))
		return nack(u.GetRevision(), err), false
	}
	c.resync = false
	c.log.LogAttrs(ctx, slog.LevelInfo, "config applied", slog.Int64("revision", u.GetRevision()),
		slog.Bool("snapshot", u.GetSnapshot()), slog.String("config_hash", hash), slog.Duration("took", time.Since(start)))
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Ack{Ack: &edgeplanev1.Ack{
		Revision: u.GetRevision(), ConfigHash: hash,
	}}}, true
}

func nack(revision int64, err error) *edgeplanev1.AgentMessage {
	return &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Nack{Nack: &edgeplanev1.Nack{
		Revision: revision, Error: err.Error(),
	}}}
}

// closeGently half-closes st so the Nack just sent reaches the control plane, then waits up
// to a second for the control plane to end the stream before cancel tears it down.
func closeGently(st connectStream, cancel context.CancelFunc) {
	_ = st.CloseSend()
	t := time.AfterFunc(time.Second, cancel)
	defer t.Stop()
	for {
		if _, err := st.Recv(); err != nil {
			return
		}
	}
}

// renew asks for a new certificate if it is time, and otherwise arms a timer reopening the
// stream when it is.
func (c *Client) renew(st connectStream, cancel context.CancelFunc) error {
	r := c.cfg.Renewal
	if r == nil {
		return nil
	}
	if time.Until(r.RenewAt()) > 0 {
		c.armRenewal(cancel)
		return nil
	}
	csr, err := r.RenewalRequest()
	if err != nil {
		return fmt.Errorf("making a renewal request: %w", err)
	}
	msg := &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_Renew{Renew: &edgeplanev1.RenewCertificate{CsrPem: csr}}}
	if err := st.Send(msg); err != nil {
		return fmt.Errorf("sending a renewal request: %w", err)
	}
	return nil
}

// other handles the messages that are not config updates; kinds this agent does not know
// are ignored.
func (c *Client) other(ctx context.Context, msg *edgeplanev1.ControlMessage, cancel context.CancelFunc) {
	switch {
	case msg.GetSettings() != nil && c.cfg.OnSettings != nil:
		c.cfg.OnSettings(msg.GetSettings())
	case msg.GetCertificate() != nil && c.cfg.Renewal != nil:
		cert := msg.GetCertificate()
		if err := c.cfg.Renewal.Renewed(cert.GetCertificatePem(), cert.GetCaPem()); err != nil {
			c.log.LogAttrs(ctx, slog.LevelWarn, "renewed certificate not installed", slog.Any("error", err))
			return
		}
		c.log.LogAttrs(ctx, slog.LevelInfo, "certificate renewed", slog.Time("renew_at", c.cfg.Renewal.RenewAt()))
		c.armRenewal(cancel)
	}
}

// armRenewal reopens the stream (ending it with cancel) when the certificate is due for
// renewal: the next stream asks for it right after its Hello.
func (c *Client) armRenewal(cancel context.CancelFunc) {
	c.stopRenewal()
	c.renewTimer = time.AfterFunc(time.Until(c.cfg.Renewal.RenewAt()), func() {
		c.renewDue.Store(true)
		cancel()
	})
}

func (c *Client) stopRenewal() {
	if c.renewTimer != nil {
		c.renewTimer.Stop()
		c.renewTimer = nil
	}
}

// send sends msg on st; the session's sends go one at a time.
func (c *Client) send(st connectStream, msg *edgeplanev1.AgentMessage) error {
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	return st.Send(msg)
}

// reportHealth sends the latest target health report, then each newer one, at most one per
// ReportGap (changes meanwhile coalesce into the next), until ctx ends or a send fails (the
// session's receive loop sees the broken stream).
func (c *Client) reportHealth(ctx context.Context, st connectStream) {
	gap := c.cfg.ReportGap
	if gap <= 0 {
		gap = DefaultReportGap
	}
	for {
		report, changed := c.cfg.TargetHealth()
		msg := &edgeplanev1.AgentMessage{Kind: &edgeplanev1.AgentMessage_TargetHealth{TargetHealth: report}}
		if err := c.send(st, msg); err != nil {
			return
		}
		if !backoff.Sleep(ctx, gap) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
	}
}
