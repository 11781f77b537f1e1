package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func TestProxy_WeightedTargets(t *testing.T) {
	a, b := echo(t, "a"), echo(t, "b")
	p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "w", Hosts: []string{"w.test"}, Targets: []*edgeplanev1.Target{
		{Url: a.URL, Weight: 3}, {Url: b.URL, Weight: 1}}})
	for mode, f := range paths(t, p) {
		counts := map[string]int{}
		for range 40 {
			resp, _ := get(t, f, "w.test", "/")
			counts[resp.Header.Get("Backend")]++
		}
		if counts["a"] != 30 || counts["b"] != 10 {
			t.Errorf("%s: got %v, want a:30 b:10", mode, counts)
		}
	}
}

func TestProxy_PassiveHealthEjectsAndRestores(t *testing.T) {
	var hits atomic.Int32
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(good.Close)
	reset := resetter(t)
	for _, mode := range []string{"fast", "net/http"} {
		t.Run(mode, func(t *testing.T) {
			p := newProxy(t, Config{EjectAfter: 3, EjectFor: 300 * time.Millisecond},
				&edgeplanev1.Route{Name: "h", Hosts: []string{"h.test"}, Targets: targets(reset, good.URL)})
			f := paths(t, p)[mode]
			statuses := map[int]int{}
			for range 40 {
				resp, _ := do(t, f, http.MethodPost, "h.test", "/", strings.NewReader("x")) // not retried
				statuses[resp.StatusCode]++
			}
			if statuses[502] != 3 || statuses[200] != 37 {
				t.Errorf("got %v; want 3 failures until the target was ejected, then 37 successes", statuses)
			}
			// Once the cooldown has passed the target is tried again: wait for that, not a time.
			deadline := time.Now().Add(10 * time.Second)
			for {
				if resp, _ := do(t, f, http.MethodPost, "h.test", "/", strings.NewReader("x")); resp.StatusCode == 502 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the ejected target never came back into rotation")
				}
			}
		})
	}
}

func TestProxy_AllTargetsEjectedStillServed(t *testing.T) {
	reset := resetter(t)
	p := newProxy(t, Config{EjectAfter: 1, EjectFor: time.Minute}, route("all", "all.test", reset))
	for mode, f := range paths(t, p) {
		for i := range 3 {
			if resp, _ := get(t, f, "all.test", "/"); resp.StatusCode != http.StatusBadGateway {
				t.Errorf("%s: request %d: got %d, want 502 from the (ejected) only target, not 503", mode, i, resp.StatusCode)
			}
		}
	}
}

func TestUpstream_Pick(t *testing.T) {
	tg := func() *target { return &target{} }
	a, b, c := tg(), tg(), tg()
	u := newPicker([]*target{a, b, c}, []uint32{1, 1, 1}, DefaultPanicThreshold)
	now := time.Now().UnixNano()
	b.ejectedUntil.Store(now + int64(time.Second))
	u.rebuild(now)
	for range 9 {
		if u.pick(now, nil, hashKey{}) == b {
			t.Fatal("picked an ejected target while others are healthy")
		}
		if got := u.pick(now, a, hashKey{}); got == a || got == b {
			t.Fatalf("pick avoiding a returned %p; want c", got)
		}
	}
	a.ejectedUntil.Store(now + int64(time.Second))
	c.ejectedUntil.Store(now + int64(time.Second))
	u.rebuild(now)
	if u.pick(now, nil, hashKey{}) == nil {
		t.Error("every target ejected: want one anyway")
	}
	single := newPicker([]*target{a}, []uint32{1}, DefaultPanicThreshold)
	if single.pick(now, a, hashKey{}) != nil {
		t.Error("one target, avoiding it: want nil")
	}
}
