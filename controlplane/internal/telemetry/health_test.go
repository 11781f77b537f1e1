package telemetry_test

import (
	"context"
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

// A Redis that answers INFO memory with an error (an ACL that denies INFO; dev mode's
// embedded store, which has no memory section) is up: no problem is reported. One that does
// not answer at all is down.
func TestHealth_ProblemOnlyWhenRedisIsDownOrFull(t *testing.T) {
	tests := []struct {
		name string
		opts redistest.Options
		acl  []string // an ACL user the client logs in as
		stop bool
		// cancel asks with a context that ended (the control plane stopping), here with
		// Redis down, which it would report otherwise.
		cancel bool
		want   string // a part of the problem; "" for none
	}{
		{name: "up, no maxmemory"},
		{name: "INFO denied by an ACL", acl: []string{"ACL", "SETUSER", "noinfo", "on", ">pw", "~*", "+@all", "-info"}},
		{name: "full", opts: redistest.Options{Args: []string{"--maxmemory", "1mb", "--maxmemory-policy", "noeviction"}}, want: "of its maxmemory"},
		{name: "down", stop: true, want: "does not answer"},
		{name: "down, asked by a caller that stopped", stop: true, cancel: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.NewWithOptions(t, tt.opts)
			opts := &redis.Options{Addr: srv.Addr, MaxRetries: -1}
			if tt.acl != nil {
				admin := redis.NewClient(&redis.Options{Addr: srv.Addr})
				if err := admin.Do(t.Context(), toAny(tt.acl)...).Err(); err != nil {
					t.Fatal(err)
				}
				admin.Close()
				opts.Username, opts.Password = tt.acl[2], "pw"
			}
			rdb := redis.NewClient(opts)
			t.Cleanup(func() { rdb.Close() })
			if tt.stop {
				srv.Stop()
			}
			ctx, cancel := context.WithCancel(t.Context())
			if tt.cancel {
				cancel()
			}
			got := (&telemetry.Health{Client: rdb, FullAt: 0.0001}).Problem(ctx)
			cancel()
			if (tt.want == "") != (got == "") || !strings.Contains(got, tt.want) {
				t.Errorf("got %q, want a problem containing %q", got, tt.want)
			}
		})
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
