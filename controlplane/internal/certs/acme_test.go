package certs_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/keyspace"
	"github.com/edgeplane/edgeplane/internal/pebbletest"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// acmeEnv is a real redis-server, a real Pebble, a state, and a stand-in agent: an HTTP
// server answering challenges from the state, counted as acking every revision the state
// reaches.
type acmeEnv struct {
	ca    *pebbletest.CA
	st    *store.Store
	state *state.State
	rdb   *redis.Client
	addr  string // redis
}

type envOptions struct {
	validity time.Duration
	silent   bool // the stand-in agent answers every challenge with 404
}

// newRedisOnly is the environment without a CA or a stand-in agent.
func newRedisOnly(t testing.TB) *acmeEnv {
	t.Helper()
	srv := redistest.New(t)
	e := &acmeEnv{addr: srv.Addr, rdb: redis.NewClient(&redis.Options{Addr: srv.Addr})}
	t.Cleanup(func() { e.rdb.Close() })
	e.st = store.New(store.Config{Client: e.rdb, Secrets: secrets.Ephemeral()})
	e.state = e.newState(t)
	return e
}

func newACMEEnv(t testing.TB, o envOptions) *acmeEnv {
	t.Helper()
	e := newRedisOnly(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := strings.CutPrefix(r.URL.Path, "/.well-known/acme-challenge/")
		it, found := e.state.Item(store.KindChallenge, token)
		if !ok || !found || o.silent {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(it.Value.(*edgeplanev1.AcmeChallenge).GetKeyAuthorization()))
	})}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { hs.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	e.ca = pebbletest.Start(t, pebbletest.Config{HTTPPort: port, Validity: o.validity})
	return e
}

func (e *acmeEnv) newState(t testing.TB) *state.State {
	tail := redis.NewClient(&redis.Options{Addr: e.addr})
	s := state.New(state.Config{Store: e.st, Tail: tail})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); tail.Close(); <-done })
	<-s.Ready()
	return s
}

// fleet acks a revision once the stand-in agent's state has it.
type fleet struct{ s *state.State }

func (f fleet) Wait(ctx context.Context, rev int64) (*edgeplanev1.Propagation, error) {
	if err := f.s.WaitFor(ctx, rev); err != nil {
		return &edgeplanev1.Propagation{Revision: rev, Pending: []string{"stand-in"}}, nil
	}
	return &edgeplanev1.Propagation{Revision: rev, Acked: 1}, nil
}

// manager starts a Manager (one control-plane replica) on the environment.
func (e *acmeEnv) manager(t testing.TB, s *state.State) *certs.Manager {
	t.Helper()
	client, err := certs.HTTPClient(e.ca.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	m := certs.New(certs.Config{Store: e.st, State: s, Fleet: fleet{e.state}, Directory: e.ca.Directory,
		HTTPClient: client, RetryMin: 300 * time.Millisecond, RetryMax: 2 * time.Second, ScanInterval: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// waitCert polls the certificate until cond holds.
func waitCert(t *testing.T, m *certs.Manager, name string, timeout time.Duration, cond func(*edgeplanev1.Certificate) bool) *edgeplanev1.Certificate {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := m.Get(t.Context(), name)
		if err == nil && cond(c) {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate %q after %s: got %v (err %v)", name, timeout, c, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isReady(c *edgeplanev1.Certificate) bool {
	return c.GetStatus() == edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_READY
}

// verifyServed checks the certificate agents get: it chains to the CA's root for every name.
func verifyServed(t *testing.T, s *state.State, ca *pebbletest.CA, name string, hosts ...string) *x509.Certificate {
	t.Helper()
	// The state follows the changelog a moment after the store says READY.
	it, ok := s.Item(store.KindCertificate, name)
	for deadline := time.Now().Add(5 * time.Second); !ok && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
		it, ok = s.Item(store.KindCertificate, name)
	}
	if !ok {
		t.Fatalf("certificate %q is not in the config", name)
	}
	tc := it.Value.(*edgeplanev1.TlsCertificate)
	var chain []*x509.Certificate
	for rest := tc.GetCertificatePem(); ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, h := range hosts {
		if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: h, Roots: ca.Roots(), Intermediates: inter}); err != nil {
			t.Errorf("certificate %q for %s: %v", name, h, err)
		}
	}
	if !strings.Contains(string(tc.GetPrivateKeyPem()), "PRIVATE KEY") {
		t.Errorf("certificate %q carries no private key for agents", name)
	}
	return chain[0]
}

func TestManager_IssuesForManyDomainsThenRenewsUnasked(t *testing.T) {
	e := newACMEEnv(t, envOptions{validity: 6 * time.Second})
	m := e.manager(t, e.state)
	created, _, err := m.Create(t.Context(), &edgeplanev1.Certificate{Name: "shop", Domains: []string{"shop.example.test", "www.shop.example.test"}})
	if err != nil {
		t.Fatal(err)
	}
	if created.GetStatus() != edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_PENDING {
		t.Errorf("status after create: got %v, want PENDING", created.GetStatus())
	}
	first := waitCert(t, m, "shop", 20*time.Second, isReady)
	if first.GetLastError() != "" || first.GetIssuer() == "" || first.GetNotAfter() == nil {
		t.Errorf("ready certificate: got %v, want issuer and validity and no error", first)
	}
	if r, nb, na := first.GetRenewTime().AsTime(), first.GetNotBefore().AsTime(), first.GetNotAfter().AsTime(); !r.After(nb) || !r.Before(na) {
		t.Errorf("renew_time %s: want within the validity %s - %s", r, nb, na)
	}
	leaf := verifyServed(t, e.state, e.ca, "shop", "shop.example.test", "www.shop.example.test")
	waitFor(t, "challenges removed", func() bool { return len(e.state.Items(store.KindChallenge)) == 0 })

	renewed := waitCert(t, m, "shop", 20*time.Second, func(c *edgeplanev1.Certificate) bool {
		return isReady(c) && c.GetSerialNumber() != first.GetSerialNumber()
	})
	waitFor(t, "the renewed certificate in the config", func() bool {
		return verifyServed(t, e.state, e.ca, "shop", "shop.example.test").SerialNumber.Cmp(leaf.SerialNumber) != 0
	})
	if !renewed.GetNotAfter().AsTime().After(first.GetNotAfter().AsTime()) {
		t.Errorf("renewed not_after %s, first %s: want later", renewed.GetNotAfter().AsTime(), first.GetNotAfter().AsTime())
	}
}

func TestManager_ChallengeNobodyServesFailsAndRetriesWithBackoff(t *testing.T) {
	e := newACMEEnv(t, envOptions{silent: true})
	m := e.manager(t, e.state)
	if _, _, err := m.Create(t.Context(), &edgeplanev1.Certificate{Name: "dark", Domains: []string{"dark.example.test"}}); err != nil {
		t.Fatal(err)
	}
	failed := waitCert(t, m, "dark", 20*time.Second, func(c *edgeplanev1.Certificate) bool {
		return c.GetStatus() == edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_FAILED
	})
	if !strings.Contains(failed.GetLastError(), "dark.example.test") || !strings.Contains(failed.GetLastError(), "404") {
		t.Errorf("last_error: got %q, want the domain and the CA's reason (404)", failed.GetLastError())
	}
	again := waitCert(t, m, "dark", 20*time.Second, func(c *edgeplanev1.Certificate) bool { return c.GetFailureCount() >= 3 })
	gap := again.GetRenewTime().AsTime().Sub(again.GetUpdateTime().AsTime())
	if gap < 900*time.Millisecond { // 300ms doubled twice, less 10% jitter
		t.Errorf("retry after failure %d in %s: want backoff of at least 1.08s", again.GetFailureCount(), gap)
	}
}

func TestManager_TwoReplicasIssueOnce(t *testing.T) {
	e := newACMEEnv(t, envOptions{})
	a, b := e.manager(t, e.state), e.manager(t, e.newState(t))
	var wg sync.WaitGroup
	for i := range 5 {
		name := "site-" + strconv.Itoa(i)
		if _, _, err := a.Create(t.Context(), &edgeplanev1.Certificate{Name: name, Domains: []string{name + ".example.test"}}); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = b.Renew(context.Background(), name) }() // wake b at once too
	}
	wg.Wait()
	// Settled: every certificate READY and not due again (nothing left to start), and no
	// issuance lock held (nothing in flight). A second issuance would have finished by now.
	for i := range 5 {
		name := "site-" + strconv.Itoa(i)
		waitCert(t, a, name, 20*time.Second, func(c *edgeplanev1.Certificate) bool {
			n, err := e.rdb.Exists(t.Context(), keyspace.New("").CertificateLock(name)).Result()
			return isReady(c) && c.GetRenewTime().AsTime().After(time.Now()) && err == nil && n == 0
		})
	}
	if n := e.ca.Issued(); n != 5 {
		t.Errorf("pebble issued %d certificates for 5 names, want 5", n)
	}
}

func TestManager_RouteWithACMEGetsCertificate(t *testing.T) {
	e := newACMEEnv(t, envOptions{})
	m := e.manager(t, e.state)
	r := &edgeplanev1.Route{Name: "api", Hosts: []string{"api.example.test"}, Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}},
		Tls: &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_ACME}}
	payload, _ := e.st.Encode(store.KindRoute, r)
	if _, err := e.st.Commit(t.Context(), store.Op{Kind: store.KindRoute, Name: "api", Payload: payload, Fresh: true}); err != nil {
		t.Fatal(err)
	}
	c := waitCert(t, m, "acme-api", 20*time.Second, isReady)
	if c.GetSource() != edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_ACME {
		t.Errorf("source: got %v, want ACME", c.GetSource())
	}
	verifyServed(t, e.state, e.ca, "acme-api", "api.example.test")
}
