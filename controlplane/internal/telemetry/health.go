package telemetry

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/publish"
)

// Health tells whether telemetry is being lost: the telemetry Redis unreachable, at or near
// its maxmemory (with noeviction Redis then refuses writes), or the control plane's
// publisher dropping records or failing batches. It is the source of the alert rule of kind
// telemetry_store. Safe for concurrent use.
type Health struct {
	// Client reaches the telemetry Redis. Required.
	Client redis.UniversalClient
	// Publisher is the control plane's own (logs, events); nil skips its counters.
	Publisher *publish.Publisher
	// FullAt is the share of maxmemory from which the store counts as full. Default 0.9.
	FullAt float64

	mu   sync.Mutex // guards last
	last publish.Stats
}

// Problem returns what is wrong, "" when nothing is. Publisher counters are compared with
// the previous call's. A check whose ctx ended (the control plane stopping) finds nothing:
// Redis not answering a caller that stopped waiting says nothing of Redis.
func (h *Health) Problem(ctx context.Context) string {
	var problems []string
	info, err := h.Client.Info(ctx, "memory").Result()
	if err != nil && ctx.Err() != nil {
		return ""
	}
	var answered redis.Error // an error reply: the server is up but will not say (an ACL, or a store without INFO memory)
	if err != nil && !errors.As(err, &answered) {
		problems = append(problems, fmt.Sprintf("the telemetry Redis does not answer: %v", err))
	} else if used, limit := infoInt(info, "used_memory"), infoInt(info, "maxmemory"); limit > 0 && float64(used) >= h.fullAt()*float64(limit) {
		problems = append(problems, fmt.Sprintf("the telemetry Redis uses %d of its maxmemory %d bytes (%s)",
			used, limit, infoString(info, "maxmemory_policy")))
	}
	if h.Publisher != nil {
		s := h.Publisher.Stats()
		h.mu.Lock()
		dropped, failed := s.Dropped-h.last.Dropped, s.FailedBatches-h.last.FailedBatches
		h.last = s
		h.mu.Unlock()
		if dropped > 0 || failed > 0 {
			problems = append(problems, fmt.Sprintf("the control plane dropped %d records and had %d failed writes since the last check (last error: %s)",
				dropped, failed, s.LastError))
		}
	}
	return strings.Join(problems, "; ")
}

func (h *Health) fullAt() float64 {
	if h.FullAt > 0 {
		return h.FullAt
	}
	return 0.9
}

// infoString returns field's value in an INFO reply ("" if absent).
func infoString(info, field string) string {
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":"); ok && k == field {
			return v
		}
	}
	return ""
}

// infoInt returns field's integer value in an INFO reply (0 if absent).
func infoInt(info, field string) int64 {
	n, _ := strconv.ParseInt(infoString(info, field), 10, 64)
	return n
}

// Advice returns what is unsafe in the telemetry Redis's memory settings, "" when nothing:
// no maxmemory (a traffic spike grows it until the OS kills it), or an eviction policy
// (which would drop stream entries, counters and alert state at random, and config keys too
// when telemetry shares the state Redis). Read from INFO, so it works where CONFIG is denied.
func (h *Health) Advice(ctx context.Context, shared bool) (string, error) {
	info, err := h.Client.Info(ctx, "memory").Result()
	if err != nil {
		return "", err
	}
	policy := infoString(info, "maxmemory_policy")
	switch {
	case policy != "noeviction" && shared:
		return fmt.Sprintf("the Redis holding config state and telemetry evicts keys (maxmemory-policy %s): config could be lost; use noeviction and a telemetry Redis of its own (--telemetry-redis-url)", policy), nil
	case policy != "noeviction":
		return fmt.Sprintf("the telemetry Redis evicts keys at random when full (maxmemory-policy %s); noeviction keeps streams, metrics and alert state whole (see deploy/redis-telemetry.conf)", policy), nil
	case infoInt(info, "maxmemory") == 0:
		return "the telemetry Redis has no maxmemory: set one with maxmemory-policy noeviction (see deploy/redis-telemetry.conf) so a traffic spike is refused rather than grows it without bound", nil
	}
	return "", nil
}
