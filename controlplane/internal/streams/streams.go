// Package streams runs consumer groups on Redis Streams: XREADGROUP for new entries, XACK
// once processed, XAUTOCLAIM of entries another consumer left pending too long (it crashed),
// a dead-letter stream for entries that failed too often or cannot be parsed, and lag
// reported as the age of the oldest unprocessed entry.
package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/internal/clock"
	"github.com/edgeplane/edgeplane/internal/keyspace"
)

// ErrMalformed marks an entry that can never be processed; it is dead-lettered at once.
var ErrMalformed = errors.New("malformed entry")

// Handler processes a batch of entries and acknowledges those it has done, atomically with
// its effects where it can (see metrics). It returns the ids to dead-letter (malformed) and
// an error for a failure that leaves the rest pending for a retry.
type Handler interface {
	Handle(ctx context.Context, stream, group string, msgs []redis.XMessage) (dead []string, err error)
}

// Config configures a Consumer.
type Config struct {
	// Client reads with blocking XREADGROUP: give it a pool of its own. Required.
	Client redis.UniversalClient
	// Stream, Group and Name identify the stream, the group and this consumer. Required.
	Stream, Group, Name string
	// Handler processes entries. Required.
	Handler Handler
	// Batch is the most entries read at once. Default 500.
	Batch int64
	// Block is how long one read waits. Default 1s.
	Block time.Duration
	// Linger, when set, is how long the consumer waits after a read that found entries but
	// not a whole Batch, so that the next read takes many: each read, script call and
	// acknowledgement then covers more entries, and entries wait up to Linger longer. Zero:
	// read again at once.
	Linger time.Duration
	// ClaimIdle is how long an entry may stay pending with a consumer before another claims
	// it. Default 30s.
	ClaimIdle time.Duration
	// MaxDeliveries is how many deliveries an entry gets before it is dead-lettered.
	// Default 5.
	MaxDeliveries int64
	// DeadLetter is the dead-letter stream. Default Stream + ":dead".
	DeadLetter string
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// Consumer is one member of a consumer group.
type Consumer struct {
	cfg Config
	log *slog.Logger
}

// New returns a Consumer; Run consumes.
func New(cfg Config) *Consumer {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Block <= 0 {
		cfg.Block = time.Second
	}
	if cfg.ClaimIdle <= 0 {
		cfg.ClaimIdle = 30 * time.Second
	}
	if cfg.MaxDeliveries <= 0 {
		cfg.MaxDeliveries = 5
	}
	if cfg.DeadLetter == "" {
		cfg.DeadLetter = keyspace.DeadLetter(cfg.Stream)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Consumer{cfg: cfg, log: log.With("stream", cfg.Stream, "group", cfg.Group, "consumer", cfg.Name)}
}

// Run consumes until ctx ends; Redis errors are retried after a pause. It returns nil when
// ctx is cancelled. The group is created (if missing) at the start and again after any
// failure (a Redis that restarted empty answers NOGROUP), not before every read.
func (c *Consumer) Run(ctx context.Context) error {
	nextClaim := clock.Now()
	grouped := false
	for ctx.Err() == nil {
		var err error
		if !grouped {
			err = c.ensureGroup(ctx)
			grouped = err == nil
		}
		if err == nil && !clock.Now().Before(nextClaim) {
			err = c.claim(ctx)
			nextClaim = clock.Now().Add(c.cfg.ClaimIdle / 2)
		}
		if err == nil {
			err = c.readNew(ctx)
		}
		if err != nil && ctx.Err() == nil {
			grouped = false
			c.log.WarnContext(ctx, "stream consumer failed; retrying", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

func (c *Consumer) ensureGroup(ctx context.Context) error {
	err := c.cfg.Client.XGroupCreateMkStream(ctx, c.cfg.Stream, c.cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("creating group: %w", err)
	}
	return nil
}

func (c *Consumer) readNew(ctx context.Context) error {
	res, err := c.cfg.Client.XReadGroup(ctx, &redis.XReadGroupArgs{
		Group: c.cfg.Group, Consumer: c.cfg.Name, Streams: []string{c.cfg.Stream, ">"},
		Count: c.cfg.Batch, Block: c.cfg.Block,
	}).Result()
	if errors.Is(err, redis.Nil) || (err != nil && ctx.Err() != nil) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading: %w", err)
	}
	n := 0
	for _, s := range res {
		n += len(s.Messages)
		if err := c.process(ctx, s.Messages); err != nil {
			return err
		}
	}
	if c.cfg.Linger > 0 && n > 0 && int64(n) < c.cfg.Batch {
		t := time.NewTimer(c.cfg.Linger)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
	return nil
}

// claim takes over entries pending too long with any consumer, dead-lettering those
// delivered too often.
func (c *Consumer) claim(ctx context.Context) error {
	start := "0-0"
	for {
		msgs, next, err := c.cfg.Client.XAutoClaim(ctx, &redis.XAutoClaimArgs{
			Stream: c.cfg.Stream, Group: c.cfg.Group, Consumer: c.cfg.Name,
			MinIdle: c.cfg.ClaimIdle, Start: start, Count: c.cfg.Batch,
		}).Result()
		if err != nil {
			return fmt.Errorf("claiming: %w", err)
		}
		if len(msgs) > 0 {
			c.log.InfoContext(ctx, "claimed entries left pending by another consumer", "count", len(msgs))
			live, err := c.dropOverDelivered(ctx, msgs)
			if err != nil {
				return err
			}
			if err := c.process(ctx, live); err != nil {
				return err
			}
		}
		if next == "0-0" || next == "" {
			return nil
		}
		start = next
	}
}

func (c *Consumer) dropOverDelivered(ctx context.Context, msgs []redis.XMessage) ([]redis.XMessage, error) {
	pend, err := c.cfg.Client.XPendingExt(ctx, &redis.XPendingExtArgs{
		Stream: c.cfg.Stream, Group: c.cfg.Group, Start: msgs[0].ID, End: msgs[len(msgs)-1].ID,
		Count: int64(len(msgs)), Consumer: c.cfg.Name,
	}).Result()
	if err != nil {
		return nil, fmt.Errorf("reading delivery counts: %w", err)
	}
	count := make(map[string]int64, len(pend))
	for _, p := range pend {
		count[p.ID] = p.RetryCount
	}
	live := msgs[:0:0]
	var dead []redis.XMessage
	for _, m := range msgs {
		if count[m.ID] > c.cfg.MaxDeliveries {
			dead = append(dead, m)
		} else {
			live = append(live, m)
		}
	}
	return live, c.deadLetter(ctx, dead, "delivered more than "+strconv.FormatInt(c.cfg.MaxDeliveries, 10)+" times")
}

func (c *Consumer) process(ctx context.Context, msgs []redis.XMessage) error {
	if len(msgs) == 0 {
		return nil
	}
	dead, err := c.cfg.Handler.Handle(ctx, c.cfg.Stream, c.cfg.Group, msgs)
	if len(dead) > 0 {
		byID := make(map[string]redis.XMessage, len(msgs))
		for _, m := range msgs {
			byID[m.ID] = m
		}
		var d []redis.XMessage
		for _, id := range dead {
			d = append(d, byID[id])
		}
		if derr := c.deadLetter(ctx, d, ErrMalformed.Error()); derr != nil {
			return derr
		}
	}
	if err != nil {
		return fmt.Errorf("processing: %w", err)
	}
	return nil
}

// deadLetter copies entries to the dead-letter stream with the reason and original id, then
// acknowledges them.
func (c *Consumer) deadLetter(ctx context.Context, msgs []redis.XMessage, reason string) error {
	if len(msgs) == 0 {
		return nil
	}
	pipe := c.cfg.Client.Pipeline()
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
		values := []any{"original_id", m.ID, "reason", reason, "group", c.cfg.Group}
		for k, v := range m.Values {
			values = append(values, "f_"+k, v)
		}
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: c.cfg.DeadLetter, MaxLen: 100000, Approx: true, Values: values})
	}
	pipe.XAck(ctx, c.cfg.Stream, c.cfg.Group, ids...)
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("dead-lettering: %w", err)
	}
	c.log.WarnContext(ctx, "dead-lettered stream entries", "count", len(msgs), "reason", reason, "dead_letter", c.cfg.DeadLetter)
	return nil
}
