package app

import (
	"strings"
	"testing"
	"time"
)

func TestCheckMinReplicas_BoundsAreEnforced(t *testing.T) {
	tests := []struct {
		cfg  Config
		want string // "" = valid
	}{
		{Config{}, ""},
		{Config{RedisMinReplicas: 1, RedisMinReplicasTimeout: time.Second}, ""},
		{Config{RedisMinReplicas: -1}, "--redis-min-replicas -1"},
		{Config{RedisMinReplicas: 17}, "--redis-min-replicas 17"},
		{Config{RedisMinReplicas: 1, RedisMinReplicasTimeout: time.Minute}, "--redis-min-replicas-timeout"},
		{Config{RedisMinReplicas: 1, Dev: true}, "no replicas"},
	}
	for _, tt := range tests {
		err := checkMinReplicas(tt.cfg)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%+v: got %v, want no error", tt.cfg, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%+v: got %v, want an error containing %q", tt.cfg, err, tt.want)
		}
	}
}
