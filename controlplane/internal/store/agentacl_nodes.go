package store

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/redis/go-redis/v9"
)

// aclEverywhere runs an ACL command on every server an agent may publish to, since Redis
// keeps ACL users per server and neither replicates nor propagates them: each node of a
// Cluster (primaries and replicas, so a failover keeps the user), or a primary (one server,
// or the one Sentinel names) and every replica it reports, which Sentinel may promote.
func (s *Store) aclEverywhere(ctx context.Context, args ...any) error {
	switch c := s.acl.(type) {
	case *redis.ClusterClient:
		return c.ForEachShard(ctx, func(ctx context.Context, n *redis.Client) error {
			if err := n.Do(ctx, args...).Err(); err != nil {
				return fmt.Errorf("on %s: %w", n.Options().Addr, err)
			}
			return nil
		})
	case *redis.Client:
		if err := c.Do(ctx, args...).Err(); err != nil {
			return err
		}
		return onReplicas(ctx, c, args...)
	default:
		return s.acl.Do(ctx, args...).Err()
	}
}

// onReplicas runs a command on every replica primary reports (ROLE), connecting with the
// primary's credentials.
func onReplicas(ctx context.Context, primary *redis.Client, args ...any) error {
	role, err := primary.Do(ctx, "ROLE").Slice()
	if err != nil {
		return fmt.Errorf("listing replicas: %w", err)
	}
	if len(role) < 3 || role[0] != "master" {
		return nil
	}
	replicas, _ := role[2].([]any)
	var errs []error
	for _, r := range replicas {
		f, _ := r.([]any)
		if len(f) < 2 {
			continue
		}
		o := *primary.Options()
		o.Addr = net.JoinHostPort(fmt.Sprint(f[0]), fmt.Sprint(f[1]))
		o.Dialer, o.OnConnect = nil, nil // a Sentinel client's dialer always reaches the primary
		c := redis.NewClient(&o)
		if err := c.Do(ctx, args...).Err(); err != nil {
			errs = append(errs, fmt.Errorf("on replica %s: %w", o.Addr, err))
		}
		_ = c.Close()
	}
	return errors.Join(errs...)
}
