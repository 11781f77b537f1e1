package node

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/edgeplane/edgeplane/agent/internal/identity"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
	"github.com/edgeplane/edgeplane/internal/capin"
)

// checkTransport decides whether the agent speaks mTLS (it has enrolled, or is told to) and
// refuses plaintext to a control plane off loopback unless Insecure.
func (a *Agent) checkTransport() error {
	if a.cfg.JoinToken != "" && a.cfg.CacheDir == "" {
		return errors.New("--join-token needs a --cache-dir to keep the agent's certificate in")
	}
	if a.cfg.JoinToken != "" && a.cfg.CAPin == "" {
		return errors.New("--join-token needs --ca-pin (printed with the token and by edgeplane-control at start): the agent trusts no CA without it")
	}
	if a.cfg.CAPin != "" {
		if _, err := capin.Parse(a.cfg.CAPin); err != nil {
			return fmt.Errorf("--ca-pin: %w", err)
		}
	}
	a.mtls = a.cfg.JoinToken != "" || a.hasIdentity()
	if a.mtls || a.cfg.Insecure || loopback(a.cfg.ControlPlane) {
		return nil
	}
	return fmt.Errorf("control plane %s is not on loopback: enrol with --join-token and --ca-pin (from EnrollmentService.CreateJoinToken), "+
		"or pass --insecure to connect in plaintext", a.cfg.ControlPlane)
}

func (a *Agent) hasIdentity() bool {
	if a.cfg.CacheDir == "" {
		return false
	}
	_, err := os.Stat(filepath.Join(a.cfg.CacheDir, "agent.crt"))
	return err == nil
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// identity loads the agent's certificate, enrolling first if it has none: retried while the
// control plane is unreachable, an error if it refuses the token.
func (a *Agent) identity(ctx context.Context) (*identity.Identity, error) {
	id, err := identity.Load(a.cfg.CacheDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return id, err
	}
	if a.cfg.JoinToken == "" {
		return nil, fmt.Errorf("no agent certificate in %s and no --join-token to enrol with", a.cfg.CacheDir)
	}
	b := backoff.New(a.cfg.Backoff)
	for {
		id, err := identity.Enroll(ctx, a.cfg.ControlPlane, a.cfg.JoinToken, a.cfg.CAPin, a.cfg.NodeID, a.cfg.CacheDir)
		if err == nil {
			a.log.LogAttrs(ctx, slog.LevelInfo, "enrolled", slog.String("node_id", id.NodeID()),
				slog.Time("renew_at", id.RenewAt()))
			return id, nil
		}
		if c := status.Code(err); c == codes.PermissionDenied || c == codes.InvalidArgument || c == codes.FailedPrecondition {
			return nil, fmt.Errorf("enrolment refused: %w", err)
		}
		delay := b.Next()
		a.log.LogAttrs(ctx, slog.LevelWarn, "enrolment failed; retrying", slog.Any("error", err), slog.Duration("retry_in", delay))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
	}
}

// connect makes the stream's connection: with mTLS once the agent has its certificate.
func (a *Agent) connect(ctx context.Context) error {
	if a.conn != nil {
		return nil
	}
	id, err := a.identity(ctx)
	if err != nil {
		return err
	}
	if n := id.NodeID(); n != a.cfg.NodeID {
		a.log.LogAttrs(ctx, slog.LevelInfo, "node id taken from the agent certificate", slog.String("node_id", n))
		a.cfg.NodeID = n
	}
	return a.dial(a.log.With("component", "stream"), id.Credentials(), id)
}

// onSettings takes the agent's own settings (its Redis user) from the control plane.
func (a *Agent) onSettings(s *edgeplanev1.AgentSettings) {
	if ts := s.GetTelemetry(); ts != nil {
		a.ownTelemetry.Store(true)
		a.offerTelemetry(ts)
	}
}
