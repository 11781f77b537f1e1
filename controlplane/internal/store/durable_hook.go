package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	"github.com/edgeplane/edgeplane/internal/clock"
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

// durableWrites returns the durable keys cmd may change, with the hash fields when the
// command names them.
func (s *Store) durableWrites(cmd redis.Cmder) []target {
	args := cmd.Args()
	if len(args) < 2 {
		return nil
	}
	name := strings.ToLower(fmt.Sprint(args[0]))
	if readCommands[name] {
		return nil
	}
	key, _ := args[1].(string)
	switch name {
	case "eval", "evalsha":
		return s.scriptWrites(args)
	case "del", "unlink":
		var out []target
		for _, k := range args[1:] {
			if ks, ok := k.(string); ok && s.durable(ks) {
				out = append(out, target{Key: ks})
			}
		}
		return out
	}
	if !s.durable(key) {
		return nil
	}
	step := map[string]int{"hset": 2, "hmset": 2, "hsetnx": 2, "hincrby": 2, "hdel": 1}[name]
	if step == 0 {
		return []target{{Key: key}}
	}
	t := target{Key: key}
	for i := 2; i < len(args); i += step {
		t.Fields = append(t.Fields, fmt.Sprint(args[i]))
	}
	return []target{t}
}

// scriptWrites returns the durable keys among a script's KEYS.
func (s *Store) scriptWrites(args []any) []target {
	n, _ := strconv.Atoi(fmt.Sprint(args[2]))
	if len(args) < 3+n {
		return nil
	}
	var out []target
	for _, k := range args[3 : 3+n] {
		if ks, ok := k.(string); ok && s.durable(ks) {
			out = append(out, target{Key: ks})
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
	var targets []target
	for _, c := range cmds {
		targets = append(targets, h.s.durableWrites(c)...)
	}
	if len(targets) == 0 {
		return run()
	}
	if h.s.fenced() {
		for _, c := range cmds {
			c.SetErr(errFenced)
		}
		return errFenced
	}
	err := run()
	if err != nil && !errors.Is(err, redis.Nil) {
		return err
	}
	h.s.capture(ctx, targets)
	return err
}

// fenced reports whether durable writes through this replica are refused right now.
func (s *Store) fenced() bool { return clock.Now().UnixNano() < s.mirror.fenced.Load() }

// capture reads targets into the mirror after this replica wrote them, and tells the other
// replicas to read them too.
func (s *Store) capture(ctx context.Context, targets []target) {
	if !s.mirror.running.Load() || !s.follow(ctx, targets) {
		return
	}
	if b, err := json.Marshal(targets); err == nil {
		_ = s.rdb.Publish(unmirrored(ctx), s.keys.DurableChanged(), b).Err()
	}
}

// follow reads targets into the mirror and reports whether it took them. A read made in
// another epoch (the store was wiped) is not taken: RunDurable is nudged instead.
func (s *Store) follow(ctx context.Context, targets []target) bool {
	r, err := s.readDurable(ctx, combine(targets))
	if err == nil && s.mirror.apply(r.epoch, r.copies) {
		return true
	}
	s.mirror.nudge()
	return false
}

// combine merges targets naming the same key: one whole read if any wants the whole key,
// else every field once.
func combine(targets []target) []target {
	at := map[string]int{}
	var out []target
	for _, t := range targets {
		i, ok := at[t.Key]
		switch {
		case !ok:
			at[t.Key] = len(out)
			out = append(out, target{Key: t.Key, Fields: slices.Clone(t.Fields)})
		case out[i].Fields == nil || t.Fields == nil:
			out[i].Fields = nil
		default:
			for _, f := range t.Fields {
				if !slices.Contains(out[i].Fields, f) {
					out[i].Fields = append(out[i].Fields, f)
				}
			}
		}
	}
	return out
}
