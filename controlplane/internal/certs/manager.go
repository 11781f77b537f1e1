package certs

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/page"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// Fleet tells when the connected agents serve a revision (fanout.Fanout does).
type Fleet interface {
	// Wait returns how far rev has reached the connected agents once every one of them has
	// answered it, or when ctx ends (then with the agents still pending). An error means
	// the agents' statuses could not be read.
	Wait(ctx context.Context, rev int64) (*edgeplanev1.Propagation, error)
}

// Config configures a Manager. Durations that are zero take the default in their comment.
type Config struct {
	// Store and State are required.
	Store *store.Store
	State *state.State
	// Fleet says when agents serve a challenge. Required for ACME.
	Fleet Fleet
	// Directory is the default ACME directory URL. Empty: ACME certificates need their own
	// acme_directory, and TLS_MODE_ACME routes fail until one is configured.
	Directory string
	// Email is the ACME account's contact (optional).
	Email string
	// HTTPClient talks to the CA. Default: HTTPClient("").
	HTTPClient *http.Client
	// RetryMin is the delay before the first retry after a failed attempt; it doubles with
	// every failure up to RetryMax. Defaults 1m and 6h.
	RetryMin, RetryMax time.Duration
	// LockTTL bounds how long a crashed replica holds a certificate's lock. Default 2m.
	LockTTL time.Duration
	// ScanInterval is how often the stored certificates are re-read for work other
	// replicas scheduled. Default 30s.
	ScanInterval time.Duration
	// ChallengeWait bounds the wait for agents to serve a challenge. Default 30s.
	ChallengeWait time.Duration
	// IssueTimeout bounds one attempt. Default 5m.
	IssueTimeout time.Duration
	// RouteGrace is how long the certificate of a TLS_MODE_ACME route is kept after the
	// route is gone. Default 1h.
	RouteGrace time.Duration
	// Events receives event.CertificateRequested, Ready, Failed and Expiring. Nil: they are
	// only logged.
	Events func(ctx context.Context, e event.Event)
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Manager runs CertificateService's operations and obtains and renews ACME certificates.
// Its methods are safe for concurrent use; Run must be running for ACME certificates to be
// obtained.
type Manager struct {
	cfg  Config
	log  *slog.Logger
	kick chan struct{} // wakes Run

	mu      sync.Mutex // guards clients, running
	clients map[string]*acmeClient
	running map[string]bool
}

// New returns a Manager.
func New(cfg Config) *Manager {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.RetryMin, time.Minute)
	def(&cfg.RetryMax, 6*time.Hour)
	def(&cfg.LockTTL, 2*time.Minute)
	def(&cfg.ScanInterval, 30*time.Second)
	def(&cfg.ChallengeWait, 30*time.Second)
	def(&cfg.IssueTimeout, 5*time.Minute)
	def(&cfg.RouteGrace, time.Hour)
	if cfg.HTTPClient == nil {
		cfg.HTTPClient, _ = HTTPClient("")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, log: log, kick: make(chan struct{}, 1),
		clients: map[string]*acmeClient{}, running: map[string]bool{}}
}

// Create stores an uploaded certificate (READY, committed to the config at once; the
// revision is returned) or registers an ACME one (PENDING; Run obtains it, revision 0).
func (m *Manager) Create(ctx context.Context, c *edgeplanev1.Certificate) (*edgeplanev1.Certificate, int64, error) {
	if len(c.GetCertificatePem()) > 0 || len(c.GetPrivateKeyPem()) > 0 {
		return m.createUpload(ctx, c)
	}
	if err := validateSpec(c, true); err != nil {
		return nil, 0, err
	}
	if c.GetAcmeDirectory() == "" && m.cfg.Directory == "" {
		return nil, 0, fmt.Errorf("no ACME directory: set certificate.acme_directory or start the control plane with --acme-directory: %w", model.ErrFailedPrecondition)
	}
	now := timestamppb.New(clock.Now())
	meta := &edgeplanev1.Certificate{Name: c.GetName(), Domains: c.GetDomains(), AcmeDirectory: c.GetAcmeDirectory(), Labels: c.GetLabels(),
		Source: edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME, Status: edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_PENDING,
		RenewTime: now, CreateTime: now, UpdateTime: now}
	out, err := m.cfg.Store.CreateCertMeta(ctx, meta)
	if err != nil {
		return nil, 0, err
	}
	m.wake()
	return out, 0, nil
}

func (m *Manager) createUpload(ctx context.Context, c *edgeplanev1.Certificate) (*edgeplanev1.Certificate, int64, error) {
	if err := validateSpec(c, false); err != nil {
		return nil, 0, err
	}
	up, err := checkUpload(c)
	if err != nil {
		return nil, 0, err
	}
	now := timestamppb.New(clock.Now())
	meta := describe(&edgeplanev1.Certificate{Name: c.GetName(), Domains: up.domains,
		Labels: c.GetLabels(), Source: edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_UPLOADED, CreateTime: now, UpdateTime: now}, up.leaf)
	tc := &edgeplanev1.TlsCertificate{Name: c.GetName(), Domains: up.domains,
		CertificatePem: c.GetCertificatePem(), PrivateKeyPem: c.GetPrivateKeyPem()}
	payload, err := m.cfg.Store.Encode(store.KindCertificate, tc)
	if errors.Is(err, store.ErrNoSecretsKey) {
		return nil, 0, fmt.Errorf("%w: %w", model.ErrFailedPrecondition, err)
	}
	if err != nil {
		return nil, 0, err
	}
	out, err := m.cfg.Store.CreateCertMeta(ctx, meta)
	if err != nil {
		return nil, 0, err
	}
	rev, err := m.cfg.Store.Commit(ctx, store.Op{Kind: store.KindCertificate, Name: c.GetName(), Payload: payload,
		Fresh: m.cfg.State.Fresh()})
	if err != nil {
		_ = m.cfg.Store.DeleteCertMeta(context.WithoutCancel(ctx), c.GetName(), 0)
		return nil, 0, err
	}
	return out, rev, nil
}

// Get returns one certificate: its stored metadata, or for a self-signed route
// certificate, what its config item says.
func (m *Manager) Get(ctx context.Context, name string) (*edgeplanev1.Certificate, error) {
	if name == "" {
		return nil, invalid("name", "is required")
	}
	meta, err := m.cfg.Store.GetCertMeta(ctx, name)
	if errors.Is(err, model.ErrNotFound) && strings.HasPrefix(name, SelfSignedPrefix) {
		it, gerr := m.cfg.Store.Get(ctx, store.KindCertificate, name)
		if gerr != nil {
			return nil, gerr
		}
		return selfSignedView(it), nil
	}
	if err != nil {
		return nil, err
	}
	return view(meta, clock.Now()), nil
}

// List returns a page of certificates ordered by name.
func (m *Manager) List(ctx context.Context, pageSize int, pageToken string) ([]*edgeplanev1.Certificate, string, error) {
	metas, err := m.cfg.Store.ListCertMeta(ctx)
	if err != nil {
		return nil, "", err
	}
	all := make([]*edgeplanev1.Certificate, 0, len(metas))
	now := clock.Now()
	for _, c := range metas {
		all = append(all, view(c, now))
	}
	for _, it := range m.cfg.State.Items(store.KindCertificate) {
		if strings.HasPrefix(it.Name, SelfSignedPrefix) {
			all = append(all, selfSignedView(it))
		}
	}
	sortByName(all)
	return page.Slice(all, (*edgeplanev1.Certificate).GetName, pageSize, pageToken)
}

// Renew schedules a new ACME order for the certificate now.
func (m *Manager) Renew(ctx context.Context, name string) (*edgeplanev1.Certificate, error) {
	for range 10 {
		meta, err := m.Get(ctx, name)
		if err != nil {
			return nil, err
		}
		if meta.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME {
			return nil, fmt.Errorf("certificate %q is %s, not from ACME: %w", name, meta.GetSource(), model.ErrFailedPrecondition)
		}
		ver, _ := store.ParseEtag(meta.GetEtag())
		meta.RenewTime, meta.UpdateTime, meta.FailureCount = timestamppb.New(clock.Now()), timestamppb.New(clock.Now()), 0
		out, err := m.cfg.Store.PutCertMeta(ctx, meta, ver, "")
		if errors.Is(err, model.ErrConflict) {
			continue
		}
		if err == nil {
			m.wake()
		}
		return out, err
	}
	return nil, fmt.Errorf("renewing certificate %q: %w", name, model.ErrConflict)
}

// Delete removes a certificate from the agents and forgets it, guarded by etag when set.
// It returns the config revision that removed it (0 if agents never had it).
func (m *Manager) Delete(ctx context.Context, name, etag string) (int64, error) {
	if name == "" {
		return 0, invalid("name", "is required")
	}
	if strings.HasPrefix(name, SelfSignedPrefix) {
		return 0, fmt.Errorf("certificate %q belongs to a TLS_MODE_SELF_SIGNED route; change the route's TLS mode instead: %w", name, model.ErrFailedPrecondition)
	}
	ver := int64(0)
	if etag != "" {
		v, err := store.ParseEtag(etag)
		if err != nil {
			return 0, invalid("etag", err.Error())
		}
		ver = v
	}
	if route := m.usedBy(name); route != "" {
		return 0, fmt.Errorf("certificate %q is used by route %q: %w", name, route, model.ErrFailedPrecondition)
	}
	if err := m.cfg.Store.DeleteCertMeta(ctx, name, ver); err != nil {
		return 0, err
	}
	return m.dropConfig(ctx, name)
}

// dropConfig removes a certificate's config item, if there is one.
func (m *Manager) dropConfig(ctx context.Context, name string) (int64, error) {
	rev, err := m.cfg.Store.Commit(ctx, store.Op{Kind: store.KindCertificate, Name: name, Delete: true, Pre: store.MustExist,
		Fresh: m.cfg.State.Fresh()})
	if errors.Is(err, model.ErrNotFound) {
		return 0, nil
	}
	return rev, err
}

// usedBy returns a route that needs the certificate name, or "".
func (m *Manager) usedBy(name string) string {
	routes, _ := m.cfg.State.Routes()
	for _, r := range routes {
		tls := r.GetTls()
		if tls.GetMode() == edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE && tls.GetCertificate() == name ||
			tls.GetMode() == edgeplanev1.TlsMode_TLS_MODE_ACME && ACMEPrefix+r.GetName() == name {
			return r.GetName()
		}
	}
	return ""
}

// Wake makes Run look at the stored certificates now (ConfigService.ApplyConfig declared
// some).
func (m *Manager) Wake() { m.wake() }

func (m *Manager) wake() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// view is what the API shows of stored metadata: READY turns EXPIRED after not_after.
func view(c *edgeplanev1.Certificate, now time.Time) *edgeplanev1.Certificate {
	if c.GetStatus() == edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY && c.GetNotAfter() != nil &&
		now.After(c.GetNotAfter().AsTime()) {
		c = proto.CloneOf(c)
		c.Status = edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_EXPIRED
	}
	return c
}

// describe sets c's status, validity, issuer and serial number from leaf.
func describe(c *edgeplanev1.Certificate, leaf *x509.Certificate) *edgeplanev1.Certificate {
	c.Status = edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY
	c.NotBefore, c.NotAfter = timestamppb.New(leaf.NotBefore), timestamppb.New(leaf.NotAfter)
	c.Issuer = leaf.Issuer.CommonName
	if c.Issuer == "" && len(leaf.Issuer.Organization) > 0 {
		c.Issuer = leaf.Issuer.Organization[0]
	}
	c.SerialNumber = leaf.SerialNumber.Text(16)
	return view(c, clock.Now())
}

func selfSignedView(it store.Item) *edgeplanev1.Certificate {
	tc := it.Value.(*edgeplanev1.TlsCertificate)
	c := &edgeplanev1.Certificate{Name: it.Name, Domains: tc.GetDomains(), Etag: store.Etag(it.Revision),
		Source: edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_SELF_SIGNED}
	if b, _ := pem.Decode(tc.GetCertificatePem()); b != nil {
		if leaf, err := x509.ParseCertificate(b.Bytes); err == nil {
			return describe(c, leaf)
		}
	}
	c.Status, c.LastError = edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_FAILED, "stored certificate does not parse"
	return c
}
