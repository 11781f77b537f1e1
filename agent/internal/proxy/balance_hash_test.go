package proxy

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// hashTargets returns n targets with distinct URLs (ids), as newTarget makes them.
func hashTargets(t *testing.T, n int) []*target {
	var ts []*target
	for i := range n {
		tg, err := newTarget(fmt.Sprintf("http://10.0.0.%d:8080", i+1))
		if err != nil {
			t.Fatal(err)
		}
		ts = append(ts, tg)
	}
	return ts
}

func hashPicker(ts []*target, weights []uint32) *picker {
	p := newPicker(ts, weights, 0)
	p.policy = lbHash
	return p
}

// owners maps keys 0..n-1 to the URL of the target p picks for them.
func owners(p *picker, now int64, n int) []string {
	out := make([]string, n)
	for k := range n {
		out[k] = p.pick(now, nil, hashString(fmt.Sprint("user-", k))).raw
	}
	return out
}

func TestHash_RemovingATargetMovesOnlyItsKeys(t *testing.T) {
	const keys = 20000
	now := time.Now().UnixNano()
	for _, weights := range [][]uint32{{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, weightsUpTo(10)} {
		for _, gone := range []int{0, 4, 9} {
			t.Run(fmt.Sprintf("weights %v, target %d", weights, gone), func(t *testing.T) {
				ts := hashTargets(t, len(weights))
				before := owners(hashPicker(ts, weights), now, keys)
				// Removed from the config: a new picker over the other targets.
				var rest []*target
				var restW []uint32
				for i := range ts {
					if i != gone {
						rest, restW = append(rest, ts[i]), append(restW, weights[i])
					}
				}
				removed := owners(hashPicker(rest, restW), now, keys)
				// Out of rotation (ejected): the same picker falls to the next target.
				p := hashPicker(ts, weights)
				ts[gone].ejectedUntil.Store(now + int64(time.Minute))
				p.rebuild(now)
				ejected := owners(p, now, keys)
				var owned int
				for k := range keys {
					if before[k] == ts[gone].raw {
						owned++
						if removed[k] != ejected[k] {
							t.Fatalf("key %d: removed goes to %s, ejected to %s; want the same next target", k, removed[k], ejected[k])
						}
						continue
					}
					if removed[k] != before[k] || ejected[k] != before[k] {
						t.Fatalf("key %d of %s moved to %s (removed) / %s (ejected); want it to stay", k, before[k], removed[k], ejected[k])
					}
				}
				if owned == 0 {
					t.Fatal("the removed target owned no key: the test proves nothing")
				}
			})
		}
	}
}

func TestHash_SharesFollowWeights(t *testing.T) {
	const keys = 60000
	weights := []uint32{1, 2, 3}
	ts := hashTargets(t, 3)
	counts := map[string]int{}
	for _, o := range owners(hashPicker(ts, weights), time.Now().UnixNano(), keys) {
		counts[o]++
	}
	for i, w := range weights {
		want := float64(keys) * float64(w) / 6
		if got := float64(counts[ts[i].raw]); got < want*0.95 || got > want*1.05 {
			t.Errorf("target %d (weight %d): %v keys of %d, want %.0f±5%%", i, w, got, keys, want)
		}
	}
}

func TestProxy_StickySessions(t *testing.T) {
	hash := edgeplanev1.LbPolicy_LB_POLICY_HASH
	tests := []struct {
		name string
		lb   *edgeplanev1.LoadBalancer
		hdr  func(user int) []string
	}{
		{"cookie", &edgeplanev1.LoadBalancer{Policy: hash, HashCookie: "session"},
			func(u int) []string { return []string{"Cookie", fmt.Sprintf("theme=dark; session=s%d; x=1", u)} }},
		{"header", &edgeplanev1.LoadBalancer{Policy: hash, HashHeader: "X-User"},
			func(u int) []string { return []string{"X-User", fmt.Sprint("u", u)} }},
	}
	for _, tt := range tests {
		for _, mode := range []string{"fast", "net/http"} {
			t.Run(tt.name+"/"+mode, func(t *testing.T) {
				bs := []*checkedBackend{newCheckedBackend(t, "0"), newCheckedBackend(t, "1"), newCheckedBackend(t, "2")}
				p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "s", Hosts: []string{"s.test"},
					Targets: targets(bs[0].URL, bs[1].URL, bs[2].URL), LoadBalancer: tt.lb, HealthCheck: steadyCheck()})
				f := paths(t, p)[mode]
				const users = 30
				home := make([]string, users)
				spread := map[string]int{}
				for round := range 5 {
					for u := range users {
						resp, _ := get(t, f, "s.test", "/", tt.hdr(u)...)
						got := resp.Header.Get("Backend")
						if round == 0 {
							home[u] = got
							spread[got]++
						} else if got != home[u] {
							t.Fatalf("user %d, round %d: served by %q, want %q as every time before", u, round, got, home[u])
						}
					}
				}
				if len(spread) != 3 {
					t.Fatalf("users spread over %v, want all three targets", spread)
				}
				// Target 1 fails its checks: its users move, everybody else stays.
				bs[1].healthy.Store(false)
				waitUntil(t, 5*time.Second, "target 1 to fail its checks", func() bool { return activeStatus(p, "s", 1) == activeDown })
				moved := make([]string, users)
				for round := range 3 {
					for u := range users {
						resp, _ := get(t, f, "s.test", "/", tt.hdr(u)...)
						got := resp.Header.Get("Backend")
						switch {
						case got == "1":
							t.Fatalf("user %d: served by target 1, which fails its checks", u)
						case home[u] != "1" && got != home[u]:
							t.Fatalf("user %d of target %s moved to %s when another target went out", u, home[u], got)
						case round > 0 && got != moved[u]:
							t.Fatalf("user %d moved again: %s then %s", u, moved[u], got)
						}
						moved[u] = got
					}
				}
				// The request without a key is still served (round robin).
				if resp, _ := get(t, f, "s.test", "/"); resp.StatusCode != http.StatusOK {
					t.Errorf("request without a key: got %d, want 200", resp.StatusCode)
				}
			})
		}
	}
}

func TestProxy_HashOnClientIP(t *testing.T) {
	bs := []*checkedBackend{newCheckedBackend(t, "0"), newCheckedBackend(t, "1")}
	p := newProxy(t, Config{}, &edgeplanev1.Route{Name: "ip", Hosts: []string{"ip.test"}, Targets: targets(bs[0].URL, bs[1].URL),
		LoadBalancer: &edgeplanev1.LoadBalancer{Policy: edgeplanev1.LbPolicy_LB_POLICY_HASH, HashClientIp: true}})
	for mode, f := range paths(t, p) {
		seen := map[string]int{}
		for i := range 20 {
			// A client cannot choose its target by claiming another address.
			resp, _ := get(t, f, "ip.test", "/", "X-Forwarded-For", fmt.Sprintf("10.1.1.%d", i))
			seen[resp.Header.Get("Backend")]++
		}
		if len(seen) != 1 {
			t.Errorf("%s: one client IP served by %v, want one target", mode, seen)
		}
	}
}

func TestCookieValue(t *testing.T) {
	tests := []struct{ line, name, want string }{
		{"session=abc", "session", "abc"},
		{"a=1; session=\"q\"; b=2", "session", "q"},
		{"sessionx=1; session=2", "session", "2"},
		{"a=1;session=3", "session", "3"},
	}
	for _, tt := range tests {
		if got, ok := cookieValue(tt.line, tt.name); !ok || got != tt.want {
			t.Errorf("cookieValue(%q, %q) = %q, %v; want %q", tt.line, tt.name, got, ok, tt.want)
		}
	}
	if _, ok := cookieValue("a=1; b=2", "session"); ok {
		t.Error("cookieValue without the cookie: got ok, want not found")
	}
}
