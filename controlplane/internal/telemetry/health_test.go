package telemetry_test

import (
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/telemetry"
	"github.com/edgeplane/edgeplane/internal/redistest"
)

func TestHealth_AdviceOnMemorySettings(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		shared bool
		want   string // a part of the advice; "" for none
	}{
		{name: "no maxmemory", want: "no maxmemory"},
		{name: "evicting", args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"}, want: "evicts keys at random"},
		{name: "evicting and shared with config", args: []string{"--maxmemory-policy", "volatile-lru"}, shared: true, want: "config could be lost"},
		{name: "bounded and noeviction", args: []string{"--maxmemory", "64mb", "--maxmemory-policy", "noeviction"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.NewWithOptions(t, redistest.Options{Args: tt.args})
			rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
			t.Cleanup(func() { rdb.Close() })
			got, err := (&telemetry.Health{Client: rdb}).Advice(t.Context(), tt.shared)
			if err != nil {
				t.Fatal(err)
			}
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want advice containing %q", got, tt.want)
			}
		})
	}
}
