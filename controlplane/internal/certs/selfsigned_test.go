package certs_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/certs"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/routing"
	"github.com/edgeplane/edgeplane/controlplane/internal/secrets"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func setup(t *testing.T, box *secrets.Box) (*routing.Service, *state.State) {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr})
	st := store.New(store.Config{Client: rdb, Secrets: box})
	s := state.New(state.Config{Store: st, Tail: tail})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = s.Run(ctx); done <- struct{}{} }()
	go func() {
		_ = (&certs.SelfSigned{Store: st, State: s, Grace: 200 * time.Millisecond}).Run(ctx)
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); tail.Close(); <-done; <-done; rdb.Close() })
	<-s.Ready()
	return routing.New(st, s), s
}

func selfSignedRoute(hosts ...string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: "web", Hosts: hosts, Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:1"}},
		Tls: &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_SELF_SIGNED}}
}

func certOf(t *testing.T, s *state.State) *edgeplanev1.TlsCertificate {
	t.Helper()
	it, ok := s.Item(store.KindCertificate, certs.SelfSignedPrefix+"web")
	if !ok {
		return nil
	}
	return it.Value.(*edgeplanev1.TlsCertificate)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSelfSigned_MadeBeforeTheRouteFollowsHostsAndIsRemoved(t *testing.T) {
	svc, s := setup(t, secrets.Ephemeral())
	ctx := t.Context()
	created, err := svc.Create(ctx, selfSignedRoute("a.test", "*.b.test"))
	if err != nil {
		t.Fatal(err)
	}
	it, ok := s.Item(store.KindCertificate, certs.SelfSignedPrefix+"web")
	waitFor(t, "the certificate in the state", func() bool { it, ok = s.Item(store.KindCertificate, certs.SelfSignedPrefix+"web"); return ok })
	if it.Revision >= created.GetRevision() {
		t.Errorf("certificate at revision %d, route at %d: want the certificate first", it.Revision, created.GetRevision())
	}
	c := certOf(t, s)
	pair, err := tls.X509KeyPair(c.GetCertificatePem(), c.GetPrivateKeyPem())
	if err != nil {
		t.Fatalf("certificate and key do not pair: %v", err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	if !slices.Equal(leaf.DNSNames, []string{"a.test", "*.b.test"}) || leaf.VerifyHostname("x.b.test") != nil {
		t.Errorf("certificate names: got %v, want a.test and *.b.test", leaf.DNSNames)
	}

	if _, err := svc.Update(ctx, selfSignedRoute("c.test"), []string{"hosts"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a certificate for the new host", func() bool {
		c := certOf(t, s)
		return c != nil && slices.Equal(c.GetDomains(), []string{"c.test"})
	})

	plain := selfSignedRoute("c.test")
	plain.Tls = nil
	if _, err := svc.Update(ctx, plain, []string{"tls"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the unused certificate to go", func() bool { return certOf(t, s) == nil })
}

func TestSelfSigned_WithoutSecretsKeyIsFailedPrecondition(t *testing.T) {
	svc, s := setup(t, nil)
	_, err := svc.Create(t.Context(), selfSignedRoute("a.test"))
	if !errors.Is(err, model.ErrFailedPrecondition) {
		t.Fatalf("got %v, want ErrFailedPrecondition", err)
	}
	if routes, rev := s.Routes(); len(routes) != 0 || rev != 0 {
		t.Errorf("got %d routes at revision %d, want nothing stored", len(routes), rev)
	}
}

func TestMakeSelfSigned_PEMAndLifetime(t *testing.T) {
	now := time.Now()
	c, err := certs.MakeSelfSigned("x", []string{"x.test"}, now)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(c.GetCertificatePem())
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if leaf.NotAfter.Before(now.Add(300*24*time.Hour)) || leaf.NotBefore.After(now) {
		t.Errorf("validity %s - %s: want from before now to about a year", leaf.NotBefore, leaf.NotAfter)
	}
}
