package proxy

import "testing"

func TestBalancer_Distribution(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
	}{
		{"single", []uint32{0}},
		{"equal", []uint32{1, 1, 1}},
		{"zero means one", []uint32{0, 1, 2}},
		{"weighted", []uint32{5, 1, 3}},
		{"large", []uint32{1000, 1, 999, 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var total int
			for _, w := range tt.weights {
				total += int(max(w, 1))
			}
			b := newBalancer(tt.weights)
			for round := range 3 {
				counts := map[int]int{}
				for range total {
					counts[b.pick()]++
				}
				for i, w := range tt.weights {
					if got, want := counts[i], int(max(w, 1)); got != want {
						t.Errorf("round %d: target %d picked %d times in %d, want %d", round, i, got, total, want)
					}
				}
			}
		})
	}
}

func TestBalancer_Interleaves(t *testing.T) {
	tests := []struct {
		name    string
		weights []uint32
		maxRun  int
	}{
		{"equal", []uint32{1, 1}, 1},
		{"heavy pair", []uint32{10, 10, 1}, 3},
		{"skewed", []uint32{9, 1}, 9},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBalancer(tt.weights)
			last, run := -1, 0
			for i := range 200 {
				u := b.pick()
				if u == last {
					run++
				} else {
					run = 1
				}
				last = u
				if run > tt.maxRun {
					t.Fatalf("pick %d: target %d chosen %d times in a row, want at most %d", i, u, run, tt.maxRun)
				}
			}
		})
	}
}
