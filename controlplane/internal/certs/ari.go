package certs

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// ACME Renewal Information (RFC 9773): the CA suggests a window in which to renew a
// certificate (earlier than usual when it is about to revoke it). x/crypto/acme does not
// speak it, so it is a plain GET of <renewalInfo>/<certID>.

// ariDefaultRecheck is how often a certificate's renewal information is fetched when the CA
// does not say (Retry-After).
const ariDefaultRecheck = 6 * time.Hour

// renewAt is when to renew leaf: a third of its lifetime before it expires, with jitter, or
// earlier when the CA's renewal information suggests it.
func (m *Manager) renewAt(ctx context.Context, leaf *x509.Certificate) time.Time {
	at := renewTime(leaf.NotBefore, leaf.NotAfter)
	if start, end, _, err := m.suggestedWindow(ctx, leaf); err == nil && start.Before(at) {
		at = pickIn(start, end)
	}
	return at
}

// checkARI fetches the renewal information of a READY certificate when due, and moves its
// renew_time earlier if the CA suggests so.
func (m *Manager) checkARI(ctx context.Context, mt *maintainer, c *edgeplanev1.Certificate, now time.Time) {
	name := c.GetName()
	if c.GetStatus() != edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY || now.Before(mt.ariNext[name]) {
		return
	}
	mt.ariNext[name] = now.Add(ariDefaultRecheck)
	it, ok := m.cfg.State.Item(store.KindCertificate, name)
	if !ok {
		return
	}
	b, _ := pem.Decode(it.Value.(*edgeplanev1.TlsCertificate).GetCertificatePem())
	if b == nil {
		return
	}
	leaf, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return
	}
	start, end, retry, err := m.suggestedWindow(ctx, leaf)
	if err != nil {
		return
	}
	if retry > 0 {
		mt.ariNext[name] = now.Add(retry)
	}
	if !start.Before(c.GetRenewTime().AsTime()) {
		return
	}
	ver, _ := store.ParseEtag(c.GetEtag())
	c.RenewTime = timestamppb.New(pickIn(start, end))
	_, err = m.cfg.Store.PutCertMeta(ctx, c, ver, "")
	m.logErr(ctx, "moving a renewal to the CA's suggested window failed", name, err)
	m.log.InfoContext(ctx, "CA suggested an earlier renewal", "certificate", name, "renew_time", c.GetRenewTime().AsTime())
}

// suggestedWindow asks the CA that issued leaf for its renewal window, and how long to wait
// before asking again (0: not said).
func (m *Manager) suggestedWindow(ctx context.Context, leaf *x509.Certificate) (start, end time.Time, retry time.Duration, err error) {
	endpoint := m.renewalEndpoint(leaf)
	if endpoint == "" || len(leaf.AuthorityKeyId) == 0 {
		return start, end, 0, errors.New("no renewal information")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/"+certID(leaf), nil)
	if err != nil {
		return start, end, 0, err
	}
	res, err := m.cfg.HTTPClient.Do(req)
	if err != nil {
		return start, end, 0, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return start, end, 0, fmt.Errorf("renewal information: %s", res.Status)
	}
	var info struct {
		SuggestedWindow struct{ Start, End time.Time } `json:"suggestedWindow"`
	}
	if err := json.NewDecoder(res.Body).Decode(&info); err != nil {
		return start, end, 0, fmt.Errorf("renewal information: %w", err)
	}
	if secs, err := strconv.Atoi(res.Header.Get("Retry-After")); err == nil && secs > 0 {
		retry = time.Duration(secs) * time.Second
	}
	w := info.SuggestedWindow
	if w.Start.IsZero() || w.End.Before(w.Start) {
		return start, end, 0, errors.New("renewal information has no valid window")
	}
	return w.Start, w.End, retry, nil
}

// renewalEndpoint returns the ARI endpoint of a directory this replica talks to. Every
// client is asked: certificates rarely come from more than one CA.
func (m *Manager) renewalEndpoint(*x509.Certificate) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.clients {
		if c.renewalInfo != "" {
			return c.renewalInfo
		}
	}
	return ""
}

// certID is the ARI identifier of a certificate: base64url(authority key id) "."
// base64url(DER serial number without tag and length).
func certID(leaf *x509.Certificate) string {
	serial := leaf.SerialNumber.Bytes()
	if len(serial) == 0 || serial[0]&0x80 != 0 {
		serial = append([]byte{0}, serial...)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(leaf.AuthorityKeyId) + "." + enc.EncodeToString(serial)
}

// pickIn returns a random time in [start, end].
func pickIn(start, end time.Time) time.Time {
	return start.Add(time.Duration(rand.Int64N(int64(end.Sub(start)) + 1)))
}
