package routing_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/routing"
	"github.com/edgeplane/edgeplane/controlplane/internal/state"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func newService(t *testing.T) (*routing.Service, *store.Store) {
	t.Helper()
	srv := redistest.New(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	tail := redis.NewClient(&redis.Options{Addr: srv.Addr})
	t.Cleanup(func() { rdb.Close() })
	st := store.New(store.Config{Client: rdb})
	s := state.New(state.Config{Store: st, Tail: tail})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); tail.Close(); <-done }) // closing unblocks a pending XREAD
	return routing.New(st, s), st
}

func valid() *edgeplanev1.Route {
	return &edgeplanev1.Route{Name: "web", Hosts: []string{"example.com", "*.example.org"}, PathPrefix: "/api",
		Methods: []string{"GET"}, Priority: 10, Targets: []*edgeplanev1.Target{{Url: "http://10.0.0.1:8080", Weight: 2}}}
}

func TestCreate_RejectsBadRoutesAndStoresNothing(t *testing.T) {
	svc, st := newService(t)
	mod := func(fn func(r *edgeplanev1.Route)) *edgeplanev1.Route { r := valid(); fn(r); return r }
	tests := []struct {
		name  string
		route *edgeplanev1.Route
		field string
	}{
		{"missing route", nil, "route"},
		{"upper-case name", mod(func(r *edgeplanev1.Route) { r.Name = "Web" }), "route.name"},
		{"empty name", mod(func(r *edgeplanev1.Route) { r.Name = "" }), "route.name"},
		{"no hosts", mod(func(r *edgeplanev1.Route) { r.Hosts = nil }), "route.hosts"},
		{"bad host", mod(func(r *edgeplanev1.Route) { r.Hosts = []string{"exa mple.com"} }), "route.hosts[0]"},
		{"underscore host", mod(func(r *edgeplanev1.Route) { r.Hosts = []string{"a_b.com"} }), "route.hosts[0]"},
		{"bare wildcard", mod(func(r *edgeplanev1.Route) { r.Hosts = []string{"*.com"} }), "route.hosts[0]"},
		{"inner wildcard", mod(func(r *edgeplanev1.Route) { r.Hosts = []string{"a.*.com"} }), "route.hosts[0]"},
		{"duplicate host", mod(func(r *edgeplanev1.Route) { r.Hosts = []string{"a.com", "a.com"} }), "route.hosts[1]"},
		{"relative path", mod(func(r *edgeplanev1.Route) { r.PathPrefix = "api" }), "route.path_prefix"},
		{"path with query", mod(func(r *edgeplanev1.Route) { r.PathPrefix = "/a?b" }), "route.path_prefix"},
		{"path with dot-dot", mod(func(r *edgeplanev1.Route) { r.PathPrefix = "/a/../b" }), "route.path_prefix"},
		{"lower-case method", mod(func(r *edgeplanev1.Route) { r.Methods = []string{"get"} }), "route.methods[0]"},
		{"unknown method", mod(func(r *edgeplanev1.Route) { r.Methods = []string{"FETCH"} }), "route.methods[0]"},
		{"negative priority", mod(func(r *edgeplanev1.Route) { r.Priority = -1 }), "route.priority"},
		{"priority too high", mod(func(r *edgeplanev1.Route) { r.Priority = 1001 }), "route.priority"},
		{"no backend", mod(func(r *edgeplanev1.Route) { r.Targets = nil }), "route.targets"},
		{"targets and service", mod(func(r *edgeplanev1.Route) { r.Service = "api" }), "route.service"},
		{"ftp target", mod(func(r *edgeplanev1.Route) { r.Targets[0].Url = "ftp://x" }), "route.targets[0].url"},
		{"target without host", mod(func(r *edgeplanev1.Route) { r.Targets[0].Url = "http://" }), "route.targets[0].url"},
		{"target with query", mod(func(r *edgeplanev1.Route) { r.Targets[0].Url = "http://x/?a=b" }), "route.targets[0].url"},
		{"target with credentials", mod(func(r *edgeplanev1.Route) { r.Targets[0].Url = "http://u:p@x" }), "route.targets[0].url"},
		{"target port out of range", mod(func(r *edgeplanev1.Route) { r.Targets[0].Url = "http://x:70000" }), "route.targets[0].url"},
		{"weight too high", mod(func(r *edgeplanev1.Route) { r.Targets[0].Weight = 5000 }), "route.targets[0].weight"},
		{"certificate without mode", mod(func(r *edgeplanev1.Route) { r.Tls = &edgeplanev1.TlsPolicy{Certificate: "c"} }), "route.tls.certificate"},
		{"redirect without tls", mod(func(r *edgeplanev1.Route) { r.Tls = &edgeplanev1.TlsPolicy{RedirectHttp: true} }), "route.tls.redirect_http"},
		{"bad header name", mod(func(r *edgeplanev1.Route) {
			r.RequestHeaders = &edgeplanev1.HeaderRules{Set: map[string]string{"bad header": "x"}}
		}), "route.request_headers.set"},
		{"header value with newline", mod(func(r *edgeplanev1.Route) {
			r.ResponseHeaders = &edgeplanev1.HeaderRules{Set: map[string]string{"X-A": "a\r\nb"}}
		}), "route.response_headers.set"},
		{"negative timeout", mod(func(r *edgeplanev1.Route) {
			r.Timeouts = &edgeplanev1.Timeouts{Connect: durationpb.New(-time.Second)}
		}), "route.timeouts.connect"},
		{"timeout too long", mod(func(r *edgeplanev1.Route) {
			r.Timeouts = &edgeplanev1.Timeouts{Response: durationpb.New(2 * time.Hour)}
		}), "route.timeouts.response"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := svc.Create(t.Context(), tt.route)
			var verr *model.ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("got %v, want a ValidationError", err)
			}
			if !hasField(verr, tt.field) {
				t.Errorf("got violations %+v, want one for %s", verr.Violations, tt.field)
			}
		})
	}
	if rev, _ := st.Revision(t.Context()); rev != 0 {
		t.Errorf("revision after only bad writes: got %d, want 0", rev)
	}
	if _, routes, _ := st.Snapshot(t.Context()); len(routes) != 0 {
		t.Errorf("routes after only bad writes: got %d, want 0", len(routes))
	}
}

func hasField(verr *model.ValidationError, field string) bool {
	for _, v := range verr.Violations {
		if v.Field == field {
			return true
		}
	}
	return false
}

func TestUpdate_MaskEtagAndErrors(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	created, err := svc.Create(ctx, valid())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, valid()); !errors.Is(err, model.ErrAlreadyExists) {
		t.Errorf("second create: got %v, want ErrAlreadyExists", err)
	}
	upd := &edgeplanev1.Route{Name: "web", Priority: 99, Hosts: []string{"ignored.com"}, Etag: created.GetEtag()}
	got, err := svc.Update(ctx, upd, []string{"priority"})
	if err != nil {
		t.Fatal(err)
	}
	if got.GetPriority() != 99 || got.GetHosts()[0] != "example.com" || got.GetRevision() <= created.GetRevision() {
		t.Errorf("masked update: got %v, want priority 99, hosts unchanged, a newer revision", got)
	}
	if !got.GetCreateTime().AsTime().Equal(created.GetCreateTime().AsTime()) {
		t.Errorf("create_time changed on update")
	}
	if _, err := svc.Update(ctx, upd, []string{"priority"}); !errors.Is(err, model.ErrConflict) {
		t.Errorf("stale etag: got %v, want ErrConflict", err)
	}
	if _, err := svc.Update(ctx, &edgeplanev1.Route{Name: "web"}, []string{"color"}); err == nil || !hasField(asValidation(err), "update_mask.paths[0]") {
		t.Errorf("unknown mask path: got %v, want a violation on update_mask.paths[0]", err)
	}
	if _, err := svc.Update(ctx, &edgeplanev1.Route{Name: "nope", Priority: 1}, []string{"priority"}); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("missing route: got %v, want ErrNotFound", err)
	}
	bad := &edgeplanev1.Route{Name: "web", Targets: []*edgeplanev1.Target{{Url: "gopher://x"}}}
	if _, err := svc.Update(ctx, bad, []string{"targets"}); asValidation(err) == nil {
		t.Errorf("invalid update: got %v, want a ValidationError", err)
	}
	if now, _ := svc.Get(ctx, "web"); now.GetRevision() != got.GetRevision() {
		t.Errorf("a rejected update changed the route: revision %d, want %d", now.GetRevision(), got.GetRevision())
	}
	if _, err := svc.Delete(ctx, "web", created.GetEtag()); !errors.Is(err, model.ErrConflict) {
		t.Errorf("delete with stale etag: got %v, want ErrConflict", err)
	}
	if _, err := svc.Delete(ctx, "web", got.GetEtag()); err != nil {
		t.Errorf("delete with current etag: %v", err)
	}
	if _, err := svc.Get(ctx, "web"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("get after delete: got %v, want ErrNotFound", err)
	}
}

func asValidation(err error) *model.ValidationError {
	var verr *model.ValidationError
	errors.As(err, &verr)
	return verr
}

// Writers each add their own host with etag-guarded read-modify-write, retrying on conflict;
// every host must survive.
func TestUpdate_ConcurrentEtagWritersLoseNothing(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	if _, err := svc.Create(ctx, valid()); err != nil {
		t.Fatal(err)
	}
	const writers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := addHost(ctx, svc, fmt.Sprintf("w%d-%d.example.net", w, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := svc.Get(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	if want := 2 + writers*each; len(got.GetHosts()) != want {
		t.Errorf("got %d hosts, want %d: an update was lost", len(got.GetHosts()), want)
	}
}

func addHost(ctx context.Context, svc *routing.Service, host string) error {
	for {
		cur, err := svc.Get(ctx, "web")
		if err != nil {
			return err
		}
		next := &edgeplanev1.Route{Name: "web", Etag: cur.GetEtag(), Hosts: append(cur.GetHosts(), host)}
		_, err = svc.Update(ctx, next, []string{"hosts"})
		if errors.Is(err, model.ErrConflict) {
			continue
		}
		return err
	}
}

func TestList_PagesInNameOrder(t *testing.T) {
	svc, _ := newService(t)
	ctx := t.Context()
	for _, n := range []string{"c", "a", "e", "b", "d"} {
		r := valid()
		r.Name = n
		if _, err := svc.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	token := ""
	for pages := 0; ; pages++ {
		routes, next, rev, err := svc.List(ctx, 2, token)
		if err != nil {
			t.Fatal(err)
		}
		if rev != 5 {
			t.Errorf("page revision: got %d, want 5", rev)
		}
		for _, r := range routes {
			names = append(names, r.GetName())
		}
		if next == "" {
			break
		}
		token = next
	}
	if fmt.Sprint(names) != "[a b c d e]" {
		t.Errorf("got %v, want [a b c d e]", names)
	}
	if _, _, _, err := svc.List(ctx, 2, "!!"); asValidation(err) == nil {
		t.Errorf("bad page token: got %v, want a ValidationError", err)
	}
}
