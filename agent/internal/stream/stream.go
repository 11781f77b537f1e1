// Package stream keeps an agent's config stream to the control plane open: it sends Hello,
// hands each ConfigUpdate to an Applier and answers with Ack or Nack, and reconnects with
// jittered exponential backoff when the stream breaks or the control plane is unreachable.
// A snapshot that arrives in chunks is joined back into one ConfigUpdate, within bounds,
// before the Applier sees it; a stream that breaks mid-snapshot applies none of it.
package stream

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/backoff"
)

// Applier is the agent's side of the protocol. The Client calls it from one goroutine.
type Applier interface {
	// Serving returns the revision and config hash the agent serves (0 and "" if none).
	Serving() (revision int64, hash string)
	// Apply moves the agent to u's revision and returns the new config hash. On error the
	// agent must keep serving what it served before; the error text is sent in the Nack.
	Apply(ctx context.Context, u *edgeplanev1.ConfigUpdate) (hash string, err error)
}

// Config configures a Client.
type Config struct {
	// Conn reaches the control plane. Required; the Client does not close it.
	Conn grpc.ClientConnInterface
	// Applier applies updates. Required.
	Applier Applier
	// NodeID, Labels and Version are sent in Hello.
	NodeID  string
	Labels  map[string]string
	Version string
	// Backoff spaces reconnection attempts; zero fields take backoff's defaults.
	Backoff backoff.Config
	// Logger receives connection events. Nil discards.
	Logger *slog.Logger
	// OnConnected, if set, is called with true when a stream delivers its first message and
	// with false when it ends.
	OnConnected func(bool)
	// Renewal, if set, is the agent's certificate: renewed over the stream once RenewAt has
	// passed (a stream open at that time is reopened to renew).
	Renewal Renewal
	// OnSettings, if set, receives the agent's own settings from the control plane.
	OnSettings func(*edgeplanev1.AgentSettings)
	// TargetHealth, if set, returns the agent's latest target health report and a channel
	// closed when a newer one exists. Each stream sends the latest report after its Hello,
	// then every newer one, at most one per ReportGap.
	TargetHealth func() (*edgeplanev1.TargetHealthReport, <-chan struct{})
	// ReportGap is the least time between two health reports; default DefaultReportGap.
	ReportGap time.Duration
	// MaxSnapshotBytes bounds the encoded size of a snapshot that arrives in chunks, and
	// MaxChunks their number; a snapshot past either is refused with a Nack (the agent keeps
	// serving what it serves). Defaults DefaultMaxSnapshotBytes and DefaultMaxChunks.
	MaxSnapshotBytes int
	MaxChunks        uint32
}

// DefaultReportGap is the least time between two target health reports of one agent:
// changes within it are coalesced into one report.
const DefaultReportGap = time.Second

// Renewal is an agent certificate that can be renewed over the config stream.
type Renewal interface {
	// RenewAt is when to renew.
	RenewAt() time.Time
	// RenewalRequest returns a PEM certificate request for a new key.
	RenewalRequest() ([]byte, error)
	// Renewed installs the certificate answering the last request.
	Renewed(certPEM, caPEM []byte) error
}

// Client runs the config stream. Create it with New and call Run once.
type Client struct {
	cfg    Config
	api    edgeplanev1.AgentServiceClient
	log    *slog.Logger
	resync bool // next Hello asks for a snapshot (revision 0); owned by Run's goroutine
	// renewDue is set when a stream was ended to renew the certificate.
	renewDue atomic.Bool
	// renewTimer ends the current stream when the certificate is due; owned by Run's goroutine.
	renewTimer *time.Timer
	// sendMu serialises a session's sends: its answers and its health reports.
	sendMu sync.Mutex
}

// New returns a Client; it does not connect until Run.
func New(cfg Config) *Client {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, api: edgeplanev1.NewAgentServiceClient(cfg.Conn), log: log}
}

// Run keeps a stream open until ctx is done, then returns nil. Failures to connect and
// broken streams are logged and retried; they never end Run.
func (c *Client) Run(ctx context.Context) error {
	b := backoff.New(c.cfg.Backoff)
	for {
		applied, err := c.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if applied {
			b.Reset()
		}
		delay := b.Next()
		if c.renewDue.Swap(false) {
			b.Reset()
			delay = 0
			err = errRenew
		}
		c.log.LogAttrs(ctx, levelFor(err), "config stream ended; reconnecting",
			slog.Any("error", err), slog.Duration("retry_in", delay))
		if !backoff.Sleep(ctx, delay) {
			return nil
		}
	}
}

// errResync ends a session whose delta did not fit the served revision.
var errResync = errors.New("delta base revision mismatch; reconnecting for a snapshot")

// errRenew ends a session to renew the agent's certificate on the next one.
var errRenew = errors.New("certificate due for renewal; reconnecting to renew it")

func levelFor(err error) slog.Level {
	if errors.Is(err, errResync) || errors.Is(err, errRenew) {
		return slog.LevelInfo
	}
	return slog.LevelWarn
}
