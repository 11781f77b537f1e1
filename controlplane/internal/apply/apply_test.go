package apply_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/apply"
	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func newService(t *testing.T) (*apply.Service, *store.Store) {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr})
	st := store.New(store.Config{Client: rdb})
	s := state.New(state.Config{Store: st, Tail: tail})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); tail.Close(); <-done; rdb.Close() })
	<-s.Ready()
	return apply.New(apply.Config{Store: st, State: s, ACMEDirectory: "https://acme.test/dir"}), st
}

func route(name, team string) *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: name, Hosts: []string{name + ".test"}, Labels: map[string]string{"team": team},
		Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:9000"}}}
}

func routes(n int, team string) []*edgeplanev1.Route {
	var out []*edgeplanev1.Route
	for i := range n {
		out = append(out, route(fmt.Sprintf("r%02d", i), team))
	}
	return out
}

// summary is "action kind/name[fields]" per change.
func summary(res apply.Result) []string {
	var out []string
	for _, c := range res.Changes {
		if c.GetAction() == edgeplanev1.ConfigAction_CONFIG_ACTION_UNCHANGED {
			continue
		}
		out = append(out, fmt.Sprintf("%s %s/%s%v", strings.TrimPrefix(c.GetAction().String(), "CONFIG_ACTION_"), c.GetKind(), c.GetName(), c.GetFields()))
	}
	return out
}

func TestApply_ChangesAndPrunesInOneRevision(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	first, err := svc.Apply(ctx, apply.Request{Routes: append(routes(4, "a"), route("other", "b"))})
	if err != nil || first.Revision != 1 {
		t.Fatalf("first apply: got revision %d err %v, want 1 nil", first.Revision, err)
	}
	set := routes(3, "a") // r03 goes
	set[1].Hosts = []string{"new.test"}
	set[2].Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_NONE}
	cert := &edgeplanev1.Certificate{Name: "shop", Domains: []string{"shop.test"}, Labels: map[string]string{"team": "a"}}
	res, err := svc.Apply(ctx, apply.Request{Routes: set, Certificates: []*edgeplanev1.Certificate{cert},
		Prune: true, Selector: map[string]string{"team": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"CREATED certificate/shop[]", "CHANGED route/r01[hosts]", "CHANGED route/r02[tls.mode]", "DELETED route/r03[]"}
	if got := summary(res); !slices.Equal(got, want) {
		t.Errorf("changes: got %q, want %q", got, want)
	}
	if res.Revision != 2 {
		t.Errorf("revision: got %d, want 2 (one revision for the whole apply)", res.Revision)
	}
	if _, err := st.GetRoute(ctx, "other"); err != nil {
		t.Errorf("route of team b after a prune of team a: %v", err)
	}
	if _, err := st.GetRoute(ctx, "r03"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("pruned route: got %v, want ErrNotFound", err)
	}
	again, err := svc.Apply(ctx, apply.Request{Routes: set, Certificates: []*edgeplanev1.Certificate{cert}})
	if err != nil || again.Revision != 0 || len(summary(again)) != 0 {
		t.Errorf("re-applying the same set: got revision %d changes %q err %v, want 0, none, nil", again.Revision, summary(again), err)
	}
}

func TestApply_DryRunStoresNothing(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	res, err := svc.Apply(ctx, apply.Request{Routes: routes(3, "a"), DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(summary(res)); got != 3 || res.Revision != 0 {
		t.Errorf("dry run: got %d changes at revision %d, want 3 at 0", got, res.Revision)
	}
	if rev, _ := st.Revision(ctx); rev != 0 {
		t.Errorf("store revision after a dry run: got %d, want 0", rev)
	}
}

func TestApply_InvalidInputNamesEveryFieldAndStoresNothing(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	set := routes(4, "a")
	set[3].Hosts = []string{"Bad Host"}
	set[1].Name = set[0].Name
	certs := []*edgeplanev1.Certificate{{Name: "c", Domains: []string{"c.test"}, PrivateKeyPem: []byte("x")}}
	_, err := svc.Apply(ctx, apply.Request{Routes: set, Certificates: certs, Prune: true})
	var verr *model.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a validation error", err)
	}
	var fields []string
	for _, v := range verr.Violations {
		fields = append(fields, v.Field)
	}
	for _, f := range []string{"routes[3].hosts[0]", "routes[1].name", "certificates[0].private_key_pem", "selector"} {
		if !slices.Contains(fields, f) {
			t.Errorf("violations %q lack %s", fields, f)
		}
	}
	if rev, _ := st.Revision(ctx); rev != 0 {
		t.Errorf("store revision after a refused apply: got %d, want 0", rev)
	}
}

func TestApply_StaleEtagAbortsNamingTheObject(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	if _, err := svc.Apply(ctx, apply.Request{Routes: routes(2, "a")}); err != nil {
		t.Fatal(err)
	}
	set := routes(2, "a")
	set[0].Priority = 5
	set[1].Priority = 5
	set[1].Etag = "7"
	_, err := svc.Apply(ctx, apply.Request{Routes: set})
	if !errors.Is(err, model.ErrConflict) || !strings.Contains(err.Error(), `"r01"`) {
		t.Fatalf("got %v, want ErrConflict naming r01", err)
	}
	if r, _ := st.GetRoute(ctx, "r00"); r.GetPriority() != 0 {
		t.Errorf("r00 priority after a refused apply: got %d, want 0", r.GetPriority())
	}
}

func TestApply_RouteNeedsItsCertificate(t *testing.T) {
	svc, _ := newService(t)
	r := route("secure", "a")
	r.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: "missing"}
	_, err := svc.Apply(t.Context(), apply.Request{Routes: []*edgeplanev1.Route{route("ok", "a"), r}})
	var verr *model.ValidationError
	if !errors.As(err, &verr) || verr.Violations[0].Field != "routes[1].tls.certificate" {
		t.Fatalf("got %v, want a violation of routes[1].tls.certificate", err)
	}
}

// TestApply_CertificatesChangeAndPrune: a declared certificate's new domains are a change
// that schedules a new order; pruning it removes its metadata; an uploaded certificate is
// never replaced by an apply.
func TestApply_CertificatesChangeAndPrune(t *testing.T) {
	svc, st := newService(t)
	ctx := t.Context()
	team := map[string]string{"team": "a"}
	cert := &edgeplanev1.Certificate{Name: "shop", Domains: []string{"shop.test"}, Labels: team}
	if _, err := svc.Apply(ctx, apply.Request{Certificates: []*edgeplanev1.Certificate{cert}}); err != nil {
		t.Fatal(err)
	}
	before, err := st.GetCertMeta(ctx, "shop")
	if err != nil || before.GetStatus() != edgeplanev1.CertificateStatus_CERTIFICATE_STATUS_PENDING {
		t.Fatalf("declared certificate: got %v %v, want PENDING metadata", before, err)
	}
	cert.Domains = []string{"shop.test", "www.shop.test"}
	res, err := svc.Apply(ctx, apply.Request{Certificates: []*edgeplanev1.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := summary(res), []string{"CHANGED certificate/shop[domains]"}; !slices.Equal(got, want) {
		t.Errorf("changes: got %q, want %q", got, want)
	}
	after, _ := st.GetCertMeta(ctx, "shop")
	if len(after.GetDomains()) != 2 || after.GetRenewTime().AsTime().Before(before.GetRenewTime().AsTime()) {
		t.Errorf("changed certificate: got domains %v renew %v, want two domains and a new order scheduled", after.GetDomains(), after.GetRenewTime())
	}
	res, err = svc.Apply(ctx, apply.Request{Routes: routes(1, "a"), Prune: true, Selector: team})
	if err != nil {
		t.Fatal(err)
	}
	if got := summary(res); !slices.Contains(got, "DELETED certificate/shop[]") {
		t.Errorf("changes: got %q, want the certificate pruned", got)
	}
	if _, err := st.GetCertMeta(ctx, "shop"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("pruned certificate's metadata: got %v, want ErrNotFound", err)
	}

	uploaded := &edgeplanev1.Certificate{Name: "up", Domains: []string{"up.test"},
		Source: edgeplanev1.CertificateSource_CERTIFICATE_SOURCE_UPLOADED}
	if _, err := st.CreateCertMeta(ctx, uploaded); err != nil {
		t.Fatal(err)
	}
	_, err = svc.Apply(ctx, apply.Request{Certificates: []*edgeplanev1.Certificate{{Name: "up", Domains: []string{"up.test"}}}})
	if !errors.Is(err, model.ErrFailedPrecondition) {
		t.Errorf("declaring an uploaded certificate: got %v, want ErrFailedPrecondition", err)
	}
}
