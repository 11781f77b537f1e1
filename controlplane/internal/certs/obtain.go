package certs

import (
	"context"
	"errors"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/event"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/clock"
)

// obtain runs one attempt for the certificate name if it is due, holding its lock in the
// store for the whole attempt: replicas that do not get the lock leave it alone, and the
// results are only written while the lock is still held (fencing).
func (m *Manager) obtain(ctx context.Context, name string) {
	token := newToken()
	ok, err := m.cfg.Store.LockCertificate(ctx, name, token, m.cfg.LockTTL)
	if err != nil || !ok {
		m.logErr(ctx, "locking a certificate failed", name, err)
		return
	}
	defer func() {
		err := m.cfg.Store.UnlockCertificate(context.WithoutCancel(ctx), name, token)
		m.logErr(ctx, "unlocking a certificate failed", name, err)
	}()
	ctx, cancel := context.WithCancelCause(ctx)
	held := make(chan struct{})
	go func() { defer close(held); m.holdLock(ctx, cancel, name, token) }()
	defer func() { cancel(nil); <-held }()

	meta, err := m.cfg.Store.GetCertMeta(ctx, name) // fresh: another replica may have just done it
	if err != nil || (meta.GetRenewTime() != nil && meta.GetRenewTime().AsTime().After(clock.Now())) {
		return
	}
	renewal := meta.GetStatus() == edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY
	if renewal {
		m.emit(ctx, &event.CertificateExpiring{Cert: certOf(meta), NotAfter: meta.GetNotAfter().AsTime()})
	}
	m.emit(ctx, &event.CertificateRequested{Cert: certOf(meta), Renewal: renewal})
	start := clock.Now()
	ictx, icancel := context.WithTimeout(ctx, m.cfg.IssueTimeout)
	iss, err := m.issue(ictx, meta)
	icancel()
	if cause := context.Cause(ctx); err != nil && cause != nil && !errors.Is(cause, context.Canceled) {
		err = cause // the lock was lost: say so, not "context canceled"
	}
	if err != nil {
		m.recordFailure(ctx, name, token, err)
		return
	}
	m.recordSuccess(ctx, name, token, iss, clock.Since(start))
}

// holdLock refreshes the lock until ctx ends; if it is lost, it cancels the attempt.
func (m *Manager) holdLock(ctx context.Context, cancel context.CancelCauseFunc, name, token string) {
	t := time.NewTicker(m.cfg.LockTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := m.cfg.Store.RefreshCertificateLock(ctx, name, token, m.cfg.LockTTL); errors.Is(err, store.ErrLockLost) {
			cancel(err)
			return
		}
	}
}

// recordSuccess stores the issued certificate (reaching every agent) with its metadata.
func (m *Manager) recordSuccess(ctx context.Context, name, token string, iss *issued, took time.Duration) {
	for range 5 {
		meta, err := m.cfg.Store.GetCertMeta(ctx, name)
		if err != nil {
			m.logErr(ctx, "storing an issued certificate failed", name, err)
			return
		}
		ver, _ := store.ParseEtag(meta.GetEtag())
		describe(meta, iss.leaf)
		meta.LastError, meta.FailureCount, meta.UpdateTime = "", 0, timestamppb.New(clock.Now())
		meta.RenewTime = timestamppb.New(m.renewAt(ctx, iss.leaf))
		if !slices.Equal(meta.GetDomains(), iss.cert.GetDomains()) {
			meta.RenewTime = timestamppb.New(clock.Now()) // its domains changed during the order
		}
		rev, out, err := m.cfg.Store.CommitIssued(ctx, token, iss.cert, meta, ver, m.cfg.State.Fresh())
		if errors.Is(err, model.ErrConflict) {
			continue
		}
		if err != nil {
			m.logErr(ctx, "storing an issued certificate failed", name, err)
			return
		}
		m.emit(ctx, &event.CertificateReady{Cert: certOf(out), Revision: rev, Serial: out.GetSerialNumber(),
			NotAfter: iss.leaf.NotAfter, RenewTime: out.GetRenewTime().AsTime(), Took: took})
		return
	}
}

// recordFailure marks the certificate FAILED (READY while its current certificate is still
// valid) with the error, and schedules a retry after a backoff.
func (m *Manager) recordFailure(ctx context.Context, name, token string, cause error) {
	for range 5 {
		meta, err := m.cfg.Store.GetCertMeta(ctx, name)
		if err != nil {
			m.logErr(ctx, "recording a failed order failed", name, err)
			return
		}
		ver, _ := store.ParseEtag(meta.GetEtag())
		meta.FailureCount++
		meta.LastError = cause.Error()
		if view(meta, clock.Now()).GetStatus() != edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY {
			meta.Status = edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_FAILED
		}
		delay := m.retryDelay(meta.GetFailureCount())
		meta.RenewTime, meta.UpdateTime = timestamppb.New(clock.Now().Add(delay)), timestamppb.New(clock.Now())
		out, err := m.cfg.Store.PutCertMeta(ctx, meta, ver, token)
		if errors.Is(err, model.ErrConflict) {
			continue
		}
		if err != nil {
			m.logErr(ctx, "recording a failed order failed", name, err)
			return
		}
		m.emit(ctx, &event.CertificateFailed{Cert: certOf(out), Error: cause.Error(),
			FailureCount: int64(out.GetFailureCount()), RetryIn: delay})
		return
	}
}
