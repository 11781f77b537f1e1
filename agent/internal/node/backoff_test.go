package node

import (
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/internal/backoff"
)

// An agent left to its defaults retries the control plane at most DefaultReconnectMax
// apart (the 5 s catch-up goal); a configured ceiling is kept.
func TestNew_ReconnectBackoff(t *testing.T) {
	tests := []struct {
		name string
		cfg  backoff.Config
		want backoff.Config
	}{
		{"defaults", backoff.Config{}, backoff.Config{Min: backoff.DefaultMin, Max: DefaultReconnectMax}},
		{"configured", backoff.Config{Min: time.Second, Max: 30 * time.Second}, backoff.Config{Min: time.Second, Max: 30 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{NodeID: "edge-1", Backoff: tt.cfg})
			if err != nil {
				t.Fatal(err)
			}
			if got := a.cfg.Backoff; got.Min != tt.want.Min || got.Max != tt.want.Max {
				t.Errorf("backoff = %v-%v, want %v-%v", got.Min, got.Max, tt.want.Min, tt.want.Max)
			}
		})
	}
}
