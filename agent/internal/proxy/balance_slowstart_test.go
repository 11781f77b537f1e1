package proxy

import (
	"testing"
	"time"
)

func TestPicker_SlowStartRampsLinearly(t *testing.T) {
	sec := int64(time.Second)
	t0 := int64(1000 * sec)
	for _, how := range []string{"active checks pass again", "passive ejection ends"} {
		t.Run(how, func(t *testing.T) {
			a, b := &target{}, &target{}
			if how == "active checks pass again" {
				a.active = &activeHealth{}
				a.active.status.Store(activeUp)
				a.active.upSince.Store(t0)
			} else {
				a.ejectedUntil.Store(t0)
			}
			p := newPicker([]*target{a, b}, []uint32{1, 1}, DefaultPanicThreshold)
			p.slowStart = 10 * sec
			p.rebuild(t0)
			// At each time a's weight is rampSteps·elapsed/slowStart (at least 1) against b's
			// rampSteps; from slowStart on both are back to 1:1.
			for _, step := range []struct {
				at     int64
				wa, wb int
			}{{t0, 1, 10}, {t0 + 2*sec, 2, 10}, {t0 + 5*sec, 5, 10}, {t0 + 9*sec, 9, 10}, {t0 + 10*sec, 1, 1}, {t0 + 60*sec, 1, 1}} {
				counts := map[*target]int{}
				rounds := 5
				for range rounds * (step.wa + step.wb) {
					counts[p.pick(step.at, nil, hashKey{})]++
				}
				if counts[a] != rounds*step.wa || counts[b] != rounds*step.wb {
					t.Errorf("%v after it returned: got a:%d b:%d, want a:%d b:%d", time.Duration(step.at-t0),
						counts[a], counts[b], rounds*step.wa, rounds*step.wb)
				}
			}
		})
	}
}

func TestPicker_ActiveStatusChangeSeenAtOnce(t *testing.T) {
	now := time.Now().UnixNano()
	a, b := &target{active: &activeHealth{}}, &target{active: &activeHealth{}}
	p := newPicker([]*target{a, b}, []uint32{1, 1}, DefaultPanicThreshold)
	p.pick(now, nil, hashKey{})
	a.active.status.Store(activeDown)
	p.epoch.Add(1) // what a prober does after a change
	for i := range 10 {
		if got := p.pick(now, nil, hashKey{}); got != b {
			t.Fatalf("pick %d after a failed its checks: got a, want b", i)
		}
	}
	a.active.status.Store(activeUp)
	p.epoch.Add(1)
	picked := map[*target]int{}
	for range 10 {
		picked[p.pick(now, nil, hashKey{})]++
	}
	if picked[a] != 5 {
		t.Errorf("a passing again: picked %d of 10, want 5", picked[a])
	}
}

func TestPicker_LeastRequestPrefersLessLoadPerWeight(t *testing.T) {
	now := time.Now().UnixNano()
	tests := []struct {
		name     string
		weights  []uint32
		inFlight []int64
		want     int // the target every pick must choose
	}{
		{"idle beats busy", []uint32{1, 1}, []int64{10, 0}, 1},
		{"weight counts: 2 in flight at weight 3 beat 1 at weight 1", []uint32{3, 1}, []int64{2, 1}, 0},
		{"busy heavy loses to idle light", []uint32{10, 1}, []int64{50, 0}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := []*target{{}, {}}
			for i, n := range tt.inFlight {
				ts[i].breaker.active.Store(n)
			}
			p := newPicker(ts, tt.weights, DefaultPanicThreshold)
			p.policy = lbLeastRequest
			for i := range 50 {
				if got := p.pick(now, nil, hashKey{}); got != ts[tt.want] {
					t.Fatalf("pick %d: got the other target, want target %d", i, tt.want)
				}
			}
		})
	}
}
