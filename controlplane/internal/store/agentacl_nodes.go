package store

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// aclEverywhere runs an ACL command on every server an agent may publish to, since Redis
// keeps ACL users per server and neither replicates nor propagates them: each node of a
// Cluster (primaries and replicas, so a failover keeps the user), or a primary (one server,
// or the one Sentinel names) and every replica it reports, which Sentinel may promote.
func (s *Store) aclEverywhere(ctx context.Context, args ...any) error {
	switch c := s.acl.(type) {
	case *redis.ClusterClient:
		return onClusterNodes(ctx, c, args...)
	case *redis.Client:
		if err := c.Do(ctx, args...).Err(); err != nil {
			return err
		}
		return onReplicas(ctx, c, args...)
	default:
		return s.acl.Do(ctx, args...).Err()
	}
}

// onClusterNodes runs a command on every node the cluster lists now (CLUSTER SHARDS; the
// client's own view of the replicas may be stale), except nodes it marks failed.
func onClusterNodes(ctx context.Context, c *redis.ClusterClient, args ...any) error {
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil {
		return fmt.Errorf("listing cluster nodes: %w", err)
	}
	co := c.Options()
	var errs []error
	for _, sh := range shards {
		for _, n := range sh.Nodes {
			if n.Health == "fail" || n.Health == "failed" {
				continue
			}
			host := cmp.Or(n.IP, n.Endpoint)
			addr := net.JoinHostPort(host, strconv.FormatInt(n.Port, 10))
			if n.Port == 0 && n.TLSPort != 0 {
				addr = net.JoinHostPort(host, strconv.FormatInt(n.TLSPort, 10))
			}
			nc := redis.NewClient(&redis.Options{Addr: addr, Username: co.Username, Password: co.Password,
				CredentialsProvider: co.CredentialsProvider, TLSConfig: co.TLSConfig, Dialer: co.Dialer,
				DialTimeout: co.DialTimeout, ReadTimeout: co.ReadTimeout, WriteTimeout: co.WriteTimeout, MaxRetries: -1})
			if err := nc.Do(ctx, args...).Err(); err != nil {
				errs = append(errs, fmt.Errorf("on %s: %w", addr, err))
			}
			_ = nc.Close()
		}
	}
	return errors.Join(errs...)
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
