package app

import (
	"fmt"
	"time"
)

// Bounds of --redis-min-replicas and --redis-min-replicas-timeout.
const (
	maxMinReplicas        = 16
	maxMinReplicasTimeout = 30 * time.Second
)

// checkMinReplicas validates the replicated-write settings: a count in [0, 16] and, when a
// count is set, a timeout in (0, 30s] (0 takes the default). Dev mode has no replicas.
func checkMinReplicas(cfg Config) error {
	n, d := cfg.RedisMinReplicas, cfg.RedisMinReplicasTimeout
	switch {
	case n < 0 || n > maxMinReplicas:
		return fmt.Errorf("--redis-min-replicas %d: want 0 to %d", n, maxMinReplicas)
	case d < 0 || d > maxMinReplicasTimeout:
		return fmt.Errorf("--redis-min-replicas-timeout %v: want at most %v", d, maxMinReplicasTimeout)
	case n > 0 && cfg.Dev:
		return fmt.Errorf("--redis-min-replicas %d: the --dev store has no replicas", n)
	}
	return nil
}
