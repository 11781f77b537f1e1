// Package redisurl turns the Redis URLs both binaries accept into go-redis clients, so the
// control plane's --redis-url and --telemetry-redis-url and the agents' request-record URL
// take the same three forms:
//
//   - redis://[user:password@]host:port[/db] (rediss:// for TLS): one server;
//   - redis://[user:password@]host:port?addr=host2:port&addr=host3:port: a Redis Cluster
//     seeded with every address (go-redis's ParseClusterURL);
//   - redis://[user:password@]sentinel1:port?master_name=NAME&addr=sentinel2:port: the
//     primary that the sentinels name NAME (go-redis's ParseFailoverURL). The user and
//     password authenticate to the sentinels; they also authenticate to the Redis servers
//     unless the URL gives ?password= (and ?username=) for those.
//
// Other query parameters are go-redis's (dial_timeout=, pool_size=, ...); an unknown one is
// an error. Errors never echo the password.
package redisurl

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/redis/go-redis/v9"
)

// Mode is the topology a URL names.
type Mode string

// The topologies.
const (
	Single   Mode = "single"
	Cluster  Mode = "cluster"
	Sentinel Mode = "sentinel"
)

// Tuning overrides client options the URL did not set. Zero fields keep go-redis's
// defaults.
type Tuning struct {
	PoolSize, MinIdleConns int
	MaxRetries             int // -1: no retries
	DialerRetries          int
	DialTimeout            time.Duration
	ReadTimeout            time.Duration
	WriteTimeout           time.Duration
}

// Client is an opened URL.
type Client struct {
	redis.UniversalClient
	// Mode is the topology the URL named.
	Mode Mode
	// Addrs are the URL's addresses: the server, the cluster seeds or the sentinels.
	Addrs []string
}

// ModeOf returns the topology rawURL names, or an error saying what is wrong with it.
func ModeOf(rawURL string) (Mode, error) {
	u, err := parse(rawURL)
	if err != nil {
		return "", err
	}
	q := u.Query()
	switch {
	case q.Has("master_name"):
		if q.Get("master_name") == "" {
			return "", fmt.Errorf("redis url %s: master_name is empty", u.Redacted())
		}
		return Sentinel, nil
	case q.Has("addr"):
		return Cluster, nil
	}
	return Single, nil
}

// Open returns a client for rawURL with t applied. It does not connect: a Redis that is
// down is reported by the first command.
func Open(rawURL string, t Tuning) (*Client, error) {
	mode, err := ModeOf(rawURL)
	if err != nil {
		return nil, err
	}
	c := &Client{Mode: mode}
	switch mode {
	case Sentinel:
		o, err := failoverOptions(rawURL)
		if err != nil {
			return nil, err
		}
		t.failover(o)
		c.UniversalClient, c.Addrs = redis.NewFailoverClient(o), o.SentinelAddrs
	case Cluster:
		o, err := redis.ParseClusterURL(rawURL)
		if err != nil {
			return nil, wrap(rawURL, err)
		}
		t.cluster(o)
		c.UniversalClient, c.Addrs = redis.NewClusterClient(o), o.Addrs
	default:
		o, err := redis.ParseURL(rawURL)
		if err != nil {
			return nil, wrap(rawURL, err)
		}
		t.single(o)
		c.UniversalClient, c.Addrs = redis.NewClient(o), []string{o.Addr}
	}
	return c, nil
}

// Validate reports whether rawURL parses as one of the three forms, without opening it.
func Validate(rawURL string) error {
	c, err := Open(rawURL, Tuning{})
	if err != nil {
		return err
	}
	return c.Close()
}

func parse(rawURL string) (*url.URL, error) {
	if rawURL == "" {
		return nil, errors.New("redis url is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", redactErr(err))
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("redis url %s: scheme must be redis:// or rediss://", u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("redis url %s: no host:port", u.Redacted())
	}
	return u, nil
}

// failoverOptions parses a Sentinel URL; the userinfo also authenticates to the Redis
// servers unless ?password= is given.
func failoverOptions(rawURL string) (*redis.FailoverOptions, error) {
	o, err := redis.ParseFailoverURL(rawURL)
	if err != nil {
		return nil, wrap(rawURL, err)
	}
	if o.Password == "" && o.Username == "" {
		o.Username, o.Password = o.SentinelUsername, o.SentinelPassword
	}
	return o, nil
}

func wrap(rawURL string, err error) error {
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return fmt.Errorf("redis url: %w", err)
	}
	return fmt.Errorf("redis url %s: %w", u.Redacted(), err)
}

// redactErr drops the URL from a url.Error, which would carry the password.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
