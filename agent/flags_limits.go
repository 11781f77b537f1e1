package main

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"strings"

	"github.com/edgeplane/edgeplane/agent/internal/node"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
)

// limitFlags registers the flags bounding what clients control (proxy.Limits) and the
// PROXY protocol's trusted sources; the returned func checks them after parsing.
func limitFlags(fs *flag.FlagSet, c *node.Config) func() error {
	l := &c.Limits
	fs.IntVar(&l.MaxConns, "max-conns", proxy.DefaultMaxConns, "open client connections; more are closed as they arrive")
	fs.IntVar(&l.MaxHeaderBytes, "max-header-bytes", proxy.DefaultMaxHeaderBytes, "request line and headers, bytes (431 beyond)")
	fs.IntVar(&l.MaxHeaderCount, "max-header-count", proxy.DefaultMaxHeaderCount, "request header lines (431 beyond)")
	fs.IntVar(&l.MaxTargetBytes, "max-target-bytes", proxy.DefaultMaxTargetBytes, "request-target (path and query), bytes (414 beyond)")
	fs.Int64Var(&l.MaxBodyBytes, "max-body-bytes", proxy.DefaultMaxBodyBytes, "request body, bytes, for routes without max_body_bytes (413 beyond)")
	fs.DurationVar(&l.HeaderTimeout, "header-timeout", proxy.ReadHeaderTimeout, "reading a request head once it started")
	fs.DurationVar(&l.IdleTimeout, "idle-timeout", proxy.IdleTimeout, "a keep-alive connection waiting for its next request")
	fs.DurationVar(&l.BodyTimeout, "body-timeout", proxy.BodyTimeout, "between two reads of a request body")
	fs.DurationVar(&l.WriteTimeout, "write-timeout", proxy.WriteTimeout, "between two writes to a client")
	var from string
	fs.StringVar(&from, "proxy-protocol-from", "", "with --proxy-protocol: the balancers trusted to send PROXY headers, CIDR or IP list, comma-separated (required)")
	return func() error {
		if l.MaxConns <= 0 || l.MaxHeaderBytes <= 0 || l.MaxHeaderCount <= 0 || l.MaxTargetBytes <= 0 || l.MaxBodyBytes <= 0 {
			return errors.New("--max-conns, --max-header-bytes, --max-header-count, --max-target-bytes and --max-body-bytes must be positive")
		}
		if l.HeaderTimeout <= 0 || l.IdleTimeout <= 0 || l.BodyTimeout <= 0 || l.WriteTimeout <= 0 {
			return errors.New("--header-timeout, --idle-timeout, --body-timeout and --write-timeout must be positive")
		}
		c.ProxyProtocolFrom = parseList(from)
		for _, r := range c.ProxyProtocolFrom {
			if _, err := netip.ParsePrefix(r); err != nil && !strings.Contains(r, "/") {
				if _, err := netip.ParseAddr(r); err != nil {
					return fmt.Errorf("--proxy-protocol-from %q: not a CIDR range or IP", r)
				}
			} else if err != nil {
				return fmt.Errorf("--proxy-protocol-from %q: %w", r, err)
			}
		}
		if c.ProxyProtocol && len(c.ProxyProtocolFrom) == 0 {
			return errors.New("--proxy-protocol needs --proxy-protocol-from with the balancers' CIDR ranges (e.g. 10.0.0.0/8)")
		}
		return nil
	}
}
