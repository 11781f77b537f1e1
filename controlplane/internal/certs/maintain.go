package certs

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
	"github.com/edgeplane/edgeplane/internal/tracectx"
)

// maxConcurrent bounds the orders one replica runs at once.
const maxConcurrent = 4

// minPass spaces maintenance passes under a storm of config changes.
const minPass = 250 * time.Millisecond

// maintainer is Run's own bookkeeping.
type maintainer struct {
	unused  map[string]time.Time // route certificates whose route is gone, since when
	ariNext map[string]time.Time // when to ask the CA's renewal information again
	sem     chan struct{}
	wg      sync.WaitGroup
}

// Run keeps ACME certificates: it registers one for every TLS_MODE_ACME route
// ("acme-<route>", covering its hosts), obtains the PENDING ones, renews each when its
// renew_time comes (a third of its lifetime before it expires, or the CA's ARI window),
// retries failures with backoff, and removes route certificates an hour after their route
// went. It returns nil when ctx ends, after the orders in flight stop.
func (m *Manager) Run(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-m.cfg.State.Ready():
	}
	mt := &maintainer{unused: map[string]time.Time{}, ariNext: map[string]time.Time{}, sem: make(chan struct{}, maxConcurrent)}
	defer mt.wg.Wait()
	for {
		changed, _, _ := m.cfg.State.Watch()
		next, err := m.maintain(ctx, mt, clock.Now())
		if err != nil && ctx.Err() == nil {
			m.log.WarnContext(ctx, "certificate maintenance failed", "err", err)
		}
		wait := m.cfg.ScanInterval
		if !next.IsZero() {
			wait = min(wait, max(clock.Until(next), minPass))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-changed:
		case <-m.kick:
		case <-timer.C:
		}
		timer.Stop()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(minPass):
		}
	}
}

// maintain runs one pass and returns when the next certificate falls due (zero: none).
func (m *Manager) maintain(ctx context.Context, mt *maintainer, now time.Time) (time.Time, error) {
	metas, err := m.cfg.Store.ListCertMeta(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if m.reconcileRoutes(ctx, mt, metas, now) {
		if metas, err = m.cfg.Store.ListCertMeta(ctx); err != nil {
			return time.Time{}, err
		}
	}
	var next time.Time
	for _, c := range metas {
		if c.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME {
			continue
		}
		if at := c.GetRenewTime().AsTime(); c.GetRenewTime() != nil && at.After(now) {
			if next.IsZero() || at.Before(next) {
				next = at
			}
			m.checkARI(ctx, mt, c, now)
			continue
		}
		m.start(ctx, mt, c.GetName())
	}
	return next, nil
}

// start runs obtain for name in the background unless it is running already.
func (m *Manager) start(ctx context.Context, mt *maintainer, name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.running[name] {
		return
	}
	m.running[name] = true
	mt.wg.Add(1)
	go func() {
		defer mt.wg.Done()
		defer func() { m.mu.Lock(); delete(m.running, name); m.mu.Unlock() }()
		select {
		case <-ctx.Done():
			return
		case mt.sem <- struct{}{}:
		}
		defer func() { <-mt.sem }()
		// One trace per attempt: its logs and certificate_requested/ready/failed events share
		// the trace id, from the order to the outcome.
		m.obtain(tracectx.With(ctx, tracectx.New()), name)
	}()
}

// reconcileRoutes registers or updates the certificate of every TLS_MODE_ACME route and
// removes those of routes gone for RouteGrace. It reports whether it wrote anything.
func (m *Manager) reconcileRoutes(ctx context.Context, mt *maintainer, metas []*edgeplanev1.Certificate, now time.Time) bool {
	byName := make(map[string]*edgeplanev1.Certificate, len(metas))
	for _, c := range metas {
		byName[c.GetName()] = c
	}
	wrote := false
	want := map[string]bool{}
	routes, _ := m.cfg.State.Routes()
	for _, r := range routes {
		if r.GetTls().GetMode() != edgeplanev1.TlsMode_TLS_MODE_ACME || slices.ContainsFunc(r.GetHosts(), isWildcard) {
			continue
		}
		name := ACMEPrefix + r.GetName()
		want[name] = true
		delete(mt.unused, name)
		if m.ensureRouteCert(ctx, byName[name], name, r.GetHosts()) {
			wrote = true
		}
	}
	for name, c := range byName {
		if !strings.HasPrefix(name, ACMEPrefix) || want[name] || c.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME {
			continue
		}
		since, ok := mt.unused[name]
		if !ok {
			mt.unused[name] = now
			continue
		}
		if now.Sub(since) < m.cfg.RouteGrace {
			continue
		}
		ver, _ := store.ParseEtag(c.GetEtag())
		if err := m.cfg.Store.DeleteCertMeta(ctx, name, ver); err == nil {
			_, err = m.dropConfig(ctx, name)
			m.logErr(ctx, "removing the certificate of a deleted route failed", name, err)
		}
		delete(mt.unused, name)
		wrote = true
	}
	return wrote
}

// ensureRouteCert makes the route certificate cur (nil: none yet) cover hosts, asking for a
// new one when they changed.
func (m *Manager) ensureRouteCert(ctx context.Context, cur *edgeplanev1.Certificate, name string, hosts []string) bool {
	domains := slices.Sorted(slices.Values(hosts))
	now := timestamppb.New(clock.Now())
	if cur == nil {
		_, err := m.cfg.Store.CreateCertMeta(ctx, &edgeplanev1.Certificate{Name: name, Domains: domains,
			Source: edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME, Status: edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_PENDING,
			RenewTime: now, CreateTime: now, UpdateTime: now})
		if !errors.Is(err, model.ErrAlreadyExists) {
			m.logErr(ctx, "registering a route's ACME certificate failed", name, err)
		}
		return true
	}
	if slices.Equal(slices.Sorted(slices.Values(cur.GetDomains())), domains) {
		return false
	}
	next := proto.CloneOf(cur)
	next.Domains, next.RenewTime, next.UpdateTime, next.FailureCount = domains, now, now, 0
	ver, _ := store.ParseEtag(cur.GetEtag())
	_, err := m.cfg.Store.PutCertMeta(ctx, next, ver, "")
	if !errors.Is(err, model.ErrConflict) {
		m.logErr(ctx, "updating a route's ACME certificate failed", name, err)
	}
	return true
}

// renewTime is when to renew leaf: when a third of its lifetime remains, less a random
// jitter of up to a twentieth of it, so replicas and certificates issued together spread.
func renewTime(notBefore, notAfter time.Time) time.Time {
	life := notAfter.Sub(notBefore)
	jitter := time.Duration(rand.Int64N(int64(life/20) + 1))
	return notAfter.Add(-life/3 - jitter)
}

// retryDelay is the backoff after n consecutive failures: RetryMin doubling up to RetryMax,
// with ±10% jitter.
func (m *Manager) retryDelay(n int32) time.Duration {
	d := m.cfg.RetryMin
	for i := int32(1); i < n && d < m.cfg.RetryMax; i++ {
		d *= 2
	}
	d = min(d, m.cfg.RetryMax)
	return d - d/10 + time.Duration(rand.Int64N(int64(d/5)+1))
}

func (m *Manager) emit(ctx context.Context, e event.Event) {
	level := slog.LevelInfo
	switch e.(type) {
	case *event.CertificateFailed, *event.CertificateExpiring:
		level = slog.LevelWarn
	}
	typ := e.Type()
	m.log.LogAttrs(ctx, level, strings.ReplaceAll(typ, "_", " "), append([]slog.Attr{slog.String("event_type", typ)}, event.Attrs(e)...)...)
	if m.cfg.Events != nil {
		m.cfg.Events(ctx, e)
	}
}

// certOf names c in its events.
func certOf(c *edgeplanev1.Certificate) event.Cert {
	return event.Cert{Certificate: c.GetName(), Domains: strings.Join(c.GetDomains(), ",")}
}

func (m *Manager) logErr(ctx context.Context, msg, name string, err error) {
	if err != nil && ctx.Err() == nil {
		m.log.WarnContext(ctx, msg, "certificate", name, "err", err)
	}
}

func isWildcard(h string) bool { return strings.HasPrefix(h, "*.") }

func isNotFound(err error) bool { return errors.Is(err, model.ErrNotFound) }

func sortByName(cs []*edgeplanev1.Certificate) {
	slices.SortFunc(cs, func(a, b *edgeplanev1.Certificate) int { return strings.Compare(a.GetName(), b.GetName()) })
}
