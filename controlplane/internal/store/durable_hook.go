package store

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
)

// readCommands never change a key; every other command naming a durable key is a write.
var readCommands = map[string]bool{
	"get": true, "hget": true, "hgetall": true, "hmget": true, "hexists": true, "hlen": true,
	"hkeys": true, "hvals": true, "hscan": true, "type": true, "pttl": true, "ttl": true,
	"exists": true, "smembers": true, "sismember": true, "scard": true, "sscan": true,
	"zrange": true, "zscore": true, "zcard": true, "getbit": true, "bitpos": true,
	"bitcount": true, "strlen": true, "mget": true, "dump": true, "watch": true,
	"evalsha_ro": true, "eval_ro": true,
}

// durableWrites returns the durable keys cmd may change.
func (s *Store) durableWrites(cmd redis.Cmder) []string {
	args := cmd.Args()
	if len(args) < 2 {
		return nil
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	if readCommands[name] {
		return nil
	}
	var keys []any
	switch name {
	case "eval", "evalsha":
		n, _ := strconv.Atoi(fmt.Sprint(args[2]))
		if len(args) >= 3+n {
			keys = args[3 : 3+n]
		}
	case "del", "unlink":
		keys = args[1:]
	default:
		keys = args[1:2]
	}
	var out []string
	for _, k := range keys {
		if ks, ok := k.(string); ok && s.durable(ks) {
			out = append(out, ks)
		}
	}
	return out
}

// hook reads what a write to durable keys left into the mirror before the write returns.
type hook struct{ s *Store }

func (h hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) { return next(ctx, network, addr) }
}

func (h hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		return h.around(ctx, []redis.Cmder{cmd}, func() error { return next(ctx, cmd) })
	}
}

func (h hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		return h.around(ctx, cmds, func() error { return next(ctx, cmds) })
	}
}

// errFenced refuses durable writes through a replica that is putting back its mirror.
var errFenced = fmt.Errorf("%w: the store lost its data and replicas are restoring it; retry in a moment", model.ErrUnavailable)

func (h hook) around(ctx context.Context, cmds []redis.Cmder, run func() error) error {
	m := h.s.mirror
	if !m.running.Load() || isUnmirrored(ctx) {
		return run()
	}
	var keys []string
	for _, c := range cmds {
		keys = append(keys, h.s.durableWrites(c)...)
	}
	if len(keys) == 0 {
		return run()
	}
	if time.Now().UnixNano() < m.fenced.Load() {
		for _, c := range cmds {
			c.SetErr(errFenced)
		}
		return errFenced
	}
	err := run()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	h.s.capture(ctx, keys)
	return err
}

// capture reads keys into the mirror after this replica wrote them, and tells the other
// replicas to read them too.
func (s *Store) capture(ctx context.Context, keys []string) {
	if s.follow(ctx, keys) {
		_ = s.rdb.Publish(unmirrored(ctx), s.keys.DurableChanged(), strings.Join(keys, " ")).Err()
	}
}

// follow reads keys into the mirror and reports whether it took them. A read made in
// another epoch (the store was wiped) is not taken: RunDurable is nudged instead.
func (s *Store) follow(ctx context.Context, keys []string) bool {
	r, err := s.readDurable(ctx, keys)
	if err == nil && s.mirror.apply(r.epoch, r.copies) {
		return true
	}
	s.mirror.nudge()
	return false
}
