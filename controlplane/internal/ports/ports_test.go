package ports_test

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/controlplane/internal/ports"
	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

// replica returns an allocator with its own Redis client, as one control-plane replica has.
func replica(t testing.TB, srv *redistest.Server, cfg ports.Config) *ports.Allocator {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, PoolSize: 32})
	t.Cleanup(func() { rdb.Close() })
	cfg.Store = store.New(store.Config{Client: rdb})
	return ports.New(cfg)
}

func newAllocator(t *testing.T, cfg ports.Config) *ports.Allocator {
	t.Helper()
	return replica(t, redistest.New(t), cfg)
}

func TestAllocate_LeaseBelongsToOwner(t *testing.T) {
	a := newAllocator(t, ports.Config{})
	ctx := t.Context()
	first, created, err := a.Allocate(ctx, ports.Request{Purpose: "service", Owner: "service/web"})
	if err != nil || !created {
		t.Fatalf("first allocation: got created %v err %v, want a new lease", created, err)
	}
	if first.Port < 20000 || first.Port > 29999 || first.Host != "127.0.0.1" || first.Purpose != "service" ||
		first.Owner != "service/web" || time.Since(first.Time) > time.Minute {
		t.Errorf("lease: got %+v, want a service-range port on 127.0.0.1 owned by service/web, allocated now", first)
	}
	again, created, err := a.Allocate(ctx, ports.Request{Purpose: "service", Owner: "service/web"})
	if err != nil || created || again != first {
		t.Errorf("same owner again: got %+v created %v err %v, want %+v not created", again, created, err, first)
	}
	other, _, err := a.Allocate(ctx, ports.Request{Purpose: "service", Owner: "service/api"})
	if err != nil || other.Port == first.Port {
		t.Errorf("another owner: got port %d err %v, want a different port than %d", other.Port, err, first.Port)
	}
	tcp, _, err := a.Allocate(ctx, ports.Request{Purpose: "tcp", Owner: "service/web"})
	if err != nil || tcp.Port < 30000 || tcp.Port > 30999 {
		t.Errorf("same owner, purpose tcp: got %+v err %v, want a port of the tcp range", tcp, err)
	}
}

// The search starts at a hash of the owner, so an owner gets its port back after a release,
// from any replica.
func TestAllocate_StartsAtStableHashOfOwner(t *testing.T) {
	srv := redistest.New(t)
	a, b := replica(t, srv, ports.Config{}), replica(t, srv, ports.Config{})
	ctx := t.Context()
	l, _, err := a.Allocate(ctx, ports.Request{Purpose: "service", Owner: "service/web"})
	if err != nil {
		t.Fatal(err)
	}
	if want := ports.Preferred(ports.DefaultRanges["service"], "service/web"); l.Port != want {
		t.Errorf("got port %d, want the owner's preferred port %d", l.Port, want)
	}
	if _, err := a.Release(ctx, "", l.Port, "service/web"); err != nil {
		t.Fatal(err)
	}
	again, created, err := b.Allocate(ctx, ports.Request{Purpose: "service", Owner: "service/web"})
	if err != nil || !created || again.Port != l.Port {
		t.Errorf("after release, from another replica: got port %d created %v err %v, want %d again", again.Port, created, err, l.Port)
	}
}

func TestAllocate_SkipsReservedLeasedAndBusyPorts(t *testing.T) {
	// Ten ports above the ephemeral range, across a byte of the bitmap, most unavailable.
	lo := 61005
	rng := ports.Range{Lo: lo, Hi: lo + 9}
	a := newAllocator(t, ports.Config{
		Ranges:   map[string]ports.Range{"t": rng},
		Reserved: []ports.Range{{Lo: lo, Hi: lo + 3}, {Lo: lo + 8, Hi: lo + 8}},
	})
	ctx := t.Context()
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(lo+4)) // busy outside edgeplane
	if err != nil {
		t.Skipf("port %d unavailable for the test: %v", lo+4, err)
	}
	defer ln.Close()
	if _, _, err := a.Allocate(ctx, ports.Request{Purpose: "t", Owner: "x", Preferred: lo + 5}); err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for i := range 3 {
		l, _, err := a.Allocate(ctx, ports.Request{Purpose: "t", Owner: fmt.Sprint("o", i)})
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		got[l.Port] = true
	}
	for _, p := range []int{lo + 6, lo + 7, lo + 9} {
		if !got[p] {
			t.Errorf("got ports %v, want %d among them", got, p)
		}
	}
	// Reserved lo..lo+3, busy lo+4, leased lo+5: nothing is left for a fourth owner.
	_, _, err = a.Allocate(ctx, ports.Request{Purpose: "t", Owner: "one-too-many"})
	if !errors.Is(err, model.ErrExhausted) {
		t.Errorf("full range: got %v, want ErrExhausted", err)
	}
}

func TestAllocate_PreferredPort(t *testing.T) {
	a := newAllocator(t, ports.Config{Reserved: []ports.Range{{Lo: 20080, Hi: 20080}}})
	ctx := t.Context()
	if _, _, err := a.Allocate(ctx, ports.Request{Purpose: "service", Owner: "a", Preferred: 21000}); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:21001")
	if err != nil {
		t.Skipf("port 21001 unavailable for the test: %v", err)
	}
	defer ln.Close()
	tests := []struct {
		name      string
		preferred int
		wantField string
		wantErr   error
	}{
		{"outside the range", 19999, "preferred", nil},
		{"reserved", 20080, "preferred", nil},
		{"leased to another owner", 21000, "", model.ErrAlreadyExists},
		{"busy on the host", 21001, "", model.ErrFailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := a.Allocate(ctx, ports.Request{Purpose: "service", Owner: "b", Preferred: tt.preferred})
			var verr *model.ValidationError
			switch {
			case tt.wantField != "":
				if !errors.As(err, &verr) || verr.Violations[0].Field != tt.wantField {
					t.Errorf("got %v, want a violation of %s", err, tt.wantField)
				}
			case !errors.Is(err, tt.wantErr):
				t.Errorf("got %v, want %v", err, tt.wantErr)
			}
		})
	}
	list, _, err := a.List(ctx, ports.Filter{Owner: "b"}, 0, "")
	if err != nil || len(list) != 0 {
		t.Errorf("owner b's leases after failed allocations: got %v err %v, want none", list, err)
	}
}

func TestAllocate_InvalidRequest(t *testing.T) {
	a := newAllocator(t, ports.Config{})
	_, _, err := a.Allocate(t.Context(), ports.Request{Purpose: "nope", Owner: "has space", Host: "bad/host"})
	var verr *model.ValidationError
	if !errors.As(err, &verr) {
		t.Fatalf("got %v, want a ValidationError", err)
	}
	var fields []string
	for _, v := range verr.Violations {
		fields = append(fields, v.Field)
	}
	if fmt.Sprint(fields) != "[purpose owner host]" {
		t.Errorf("got violations of %v, want [purpose owner host]", fields)
	}
}

func TestRelease(t *testing.T) {
	a := newAllocator(t, ports.Config{})
	ctx := t.Context()
	l, _, err := a.Allocate(ctx, ports.Request{Purpose: "service", Owner: "service/web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Release(ctx, "", l.Port, "service/other"); !errors.Is(err, model.ErrFailedPrecondition) {
		t.Errorf("release by another owner: got %v, want ErrFailedPrecondition", err)
	}
	got, err := a.ReleaseOwner(ctx, "", "service", "service/web")
	if err != nil || got.Port != l.Port {
		t.Fatalf("release by owner: got %+v err %v, want port %d", got, err, l.Port)
	}
	if _, err := a.Release(ctx, "", l.Port, ""); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("second release: got %v, want ErrNotFound", err)
	}
	if _, err := a.ReleaseOwner(ctx, "", "service", "service/web"); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("second release by owner: got %v, want ErrNotFound", err)
	}
}

func TestAllocate_SurvivesRestart(t *testing.T) {
	srv := redistest.NewWithOptions(t, redistest.Options{Persist: true})
	a := replica(t, srv, ports.Config{})
	l, _, err := a.Allocate(t.Context(), ports.Request{Purpose: "service", Owner: "service/web"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Stop()
	srv.Start()
	b := replica(t, srv, ports.Config{})
	again, created, err := b.Allocate(t.Context(), ports.Request{Purpose: "service", Owner: "service/web"})
	if err != nil || created || again.Port != l.Port {
		t.Errorf("after a Redis restart: got port %d created %v err %v, want the same lease %d", again.Port, created, err, l.Port)
	}
}

// Two replicas (own clients, own allocators, one Redis) allocate 2,000 ports at once.
func TestAllocate_TwoReplicasNeverDuplicate(t *testing.T) {
	srv := redistest.New(t)
	reps := []*ports.Allocator{replica(t, srv, ports.Config{}), replica(t, srv, ports.Config{})}
	const total, workers = 2000, 16
	got := allocateConcurrently(t, reps, total, workers, "o")
	seen := map[int]string{}
	for owner, p := range got {
		if prev, dup := seen[p]; dup {
			t.Fatalf("port %d leased to both %s and %s", p, prev, owner)
		}
		seen[p] = owner
	}
	if len(seen) != total {
		t.Fatalf("got %d distinct ports, want %d", len(seen), total)
	}
	list, next, err := reps[0].List(t.Context(), ports.Filter{Purpose: "service"}, 1000, "")
	if err != nil || len(list) != 1000 || next == "" {
		t.Fatalf("first page: got %d leases, next %q, err %v; want 1000 and a token", len(list), next, err)
	}
	rest, next2, err := reps[1].List(t.Context(), ports.Filter{Purpose: "service"}, 1000, next)
	if err != nil || len(rest) != 1000 || next2 != "" || rest[0].Port <= list[999].Port {
		t.Fatalf("second page: got %d leases from %v, next %q, err %v; want the other 1000 in order", len(rest), rest[0], next2, err)
	}
}

// allocateConcurrently leases n ports for owners prefix0..prefixN-1, spread over the
// replicas and workers, and returns owner -> port.
func allocateConcurrently(t testing.TB, reps []*ports.Allocator, n, workers int, prefix string) map[string]int {
	var mu sync.Mutex
	got := make(map[string]int, n)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			a := reps[w%len(reps)]
			for i := w; i < n; i += workers {
				owner := prefix + strconv.Itoa(i)
				l, _, err := a.Allocate(t.Context(), ports.Request{Purpose: "service", Owner: owner})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				got[owner] = l.Port
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return got
}

// BenchmarkAllocate_TwoReplicas measures port allocations per second under contention from
// two replicas (separate clients on one redis-server), 16 concurrent callers, each op 2,000
// allocations of new owners, checked for duplicates and then released (untimed).
func BenchmarkAllocate_TwoReplicas(b *testing.B) {
	srv := redistest.New(b)
	reps := []*ports.Allocator{replica(b, srv, ports.Config{}), replica(b, srv, ports.Config{})}
	const n = 2000
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		got := allocateConcurrently(b, reps, n, 16, fmt.Sprintf("b%d-", i))
		elapsed += time.Since(start)
		b.StopTimer()
		seen := map[int]bool{}
		for owner, p := range got {
			if seen[p] {
				b.Fatalf("duplicate port %d", p)
			}
			seen[p] = true
			if _, err := reps[0].Release(b.Context(), "", p, owner); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*n)/elapsed.Seconds(), "allocs/s")
	b.ReportMetric(0, "duplicates")
}

// The dev mode's embedded store (miniredis) runs the same scripts; a range that does not
// start or end on a byte boundary is filled exactly.
func TestAllocate_FillsUnalignedRangeOnDevStore(t *testing.T) {
	mini := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mini.Addr()})
	t.Cleanup(func() { rdb.Close() })
	rng := ports.Range{Lo: 61003, Hi: 61020}
	a := ports.New(ports.Config{Store: store.New(store.Config{Client: rdb}), Ranges: map[string]ports.Range{"t": rng},
		Busy: func(string, int) bool { return false }})
	seen := map[int]bool{}
	for i := range rng.Size() {
		l, _, err := a.Allocate(t.Context(), ports.Request{Purpose: "t", Owner: fmt.Sprint("o", i)})
		if err != nil {
			t.Fatalf("allocation %d: %v", i, err)
		}
		if !rng.Contains(l.Port) || seen[l.Port] {
			t.Fatalf("allocation %d: got port %d (seen %v), want a new port of %s", i, l.Port, seen[l.Port], rng)
		}
		seen[l.Port] = true
	}
	if _, _, err := a.Allocate(t.Context(), ports.Request{Purpose: "t", Owner: "last"}); !errors.Is(err, model.ErrExhausted) {
		t.Errorf("full range: got %v, want ErrExhausted", err)
	}
}
