package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/edgeplane/edgeplane/agent/internal/node"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// options is the parsed command line.
type options struct {
	config    node.Config
	logFormat string
	logLevel  string
	version   bool
}

// parseFlags parses args; a flag not given takes its EDGEPLANE_* variable from lookupEnv,
// else its default.
func parseFlags(args []string, lookupEnv func(string) (string, bool)) (*options, error) {
	var o options
	var labels, strip string
	var maxRoutes int
	var workers string
	fs := flag.NewFlagSet("edgeplane-agent", flag.ContinueOnError)
	fs.StringVar(&o.config.ControlPlane, "control-plane", node.DefaultControlPlane, "control plane gRPC address, host:port")
	fs.StringVar(&o.config.NodeID, "node-id", "", "name of this node in the fleet (default: the host name)")
	fs.StringVar(&labels, "labels", "", "node labels, k=v,k2=v2")
	fs.StringVar(&o.config.HTTPAddr, "http-addr", node.DefaultHTTPAddr, "proxy listen address for HTTP")
	fs.StringVar(&o.config.HTTPSAddr, "https-addr", ":8443", `proxy listen address for HTTPS; "" or "-" disables it`)
	fs.BoolVar(&o.config.ProxyProtocol, "proxy-protocol", false, "require a PROXY protocol v1/v2 header on every client connection (agents behind an L4 balancer)")
	fs.BoolVar(&o.config.ReusePort, "reuse-port", false, "bind the HTTP and HTTPS listeners with SO_REUSEPORT, so other agents started with it may listen on the same addresses (several agents on one host; see the README for what a stopping one resets)")
	fs.StringVar(&strip, "strip-headers", strings.Join(proxy.DefaultStripHeaders, ","),
		"client request headers never forwarded to backends, comma-separated (X-Forwarded-*, Forwarded and X-Real-IP are always replaced)")
	fs.DurationVar(&o.config.DrainTimeout, "drain-timeout", node.DefaultDrainTimeout, "how long shutdown waits for requests and WebSocket connections before closing them")
	fs.StringVar(&o.config.MetricsAddr, "metrics-addr", node.DefaultMetricsAddr, "listen address for /metrics, /healthz and /readyz")
	fs.BoolVar(&o.config.Pprof, "pprof", false, "also serve /debug/pprof/ on the metrics address")
	fs.IntVar(&maxRoutes, "max-routes", 0, "reject (NACK) a config with more routes than this, keeping the current one; 0 means no limit")
	fs.StringVar(&o.config.RedisURL, "redis-url", "", "Redis for request records, redis://[user:pass@]host:port/db, ?addr=h:p for Cluster, ?master_name=NAME for Sentinel; overrides the control plane's telemetry settings (default: the control plane's)")
	fs.StringVar(&o.config.RequestStream, "request-stream", "", "stream request records go to; overrides the control plane's (default: the control plane's, else "+proxy.DefaultRequestStream+")")
	fs.IntVar(&o.config.TraceBuffer, "trace-buffer", node.DefaultTraceBuffer, "request records that may wait for Redis; more are dropped and counted")
	fs.StringVar(&o.config.CacheDir, "cache-dir", defaultCacheDir(lookupEnv), "directory for the config cache (created if missing)")
	fs.StringVar(&o.config.JoinToken, "join-token", "", "join token to enrol with (once; the certificate is then kept in --cache-dir); needs --ca-pin")
	fs.StringVar(&o.config.CAPin, "ca-pin", "", "sha256:<hex> pin of the cluster CA's public key, printed with the join token and by edgeplane-control at start")
	fs.DurationVar(&o.config.Backoff.Max, "reconnect-max", node.DefaultReconnectMax, "longest wait between two attempts to reach the control plane (fully jittered; raise it for very large fleets)")
	fs.BoolVar(&o.config.Insecure, "insecure", false, "allow a plaintext stream to a control plane that is not on loopback")
	fs.StringVar(&workers, "workers", "1", "processes serving the HTTP and HTTPS listeners, this one included, like nginx's worker_processes: a number, or auto for one per CPU this process may use")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	limits := limitFlags(fs, &o.config)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := applyEnv(fs, lookupEnv); err != nil {
		return nil, err
	}
	if o.config.HTTPSAddr == "-" {
		o.config.HTTPSAddr = ""
	}
	o.config.StripHeaders = parseList(strip)
	if err := limits(); err != nil {
		return nil, err
	}
	if maxRoutes < 0 {
		return nil, fmt.Errorf("--max-routes %d: must not be negative", maxRoutes)
	}
	o.config.Validate = limitRoutes(maxRoutes)
	var err error
	if o.config.Workers, err = parseWorkers(workers); err != nil {
		return nil, err
	}
	if o.config.TraceBuffer <= 0 {
		return nil, fmt.Errorf("--trace-buffer %d: must be positive", o.config.TraceBuffer)
	}
	o.config.Labels, err = parseLabels(labels)
	return &o, err
}

// limitRoutes returns a config check that refuses more than max routes (nil for no limit):
// a memory bound for small edge hosts, and a config the agent cannot apply is NACKed.
func limitRoutes(max int) func([]*edgeplanev1.Route) error {
	if max == 0 {
		return nil
	}
	return func(routes []*edgeplanev1.Route) error {
		if len(routes) > max {
			return fmt.Errorf("config has %d routes, more than this agent's --max-routes %d", len(routes), max)
		}
		return nil
	}
}

// parseList splits a comma-separated list, dropping blanks; never nil.
func parseList(s string) []string {
	out := []string{}
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

// applyEnv sets every flag not given on the command line from its EDGEPLANE_* variable:
// --cache-dir reads EDGEPLANE_CACHE_DIR.
func applyEnv(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) error {
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		if v, ok := lookupEnv(name); ok && !given[f.Name] && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s=%q: %w", name, v, e)
			}
		}
	})
	return err
}

func envName(flagName string) string {
	return "EDGEPLANE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseLabels parses "k=v,k2=v2".
func parseLabels(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	labels := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("label %q: want key=value", kv)
		}
		labels[k] = strings.TrimSpace(v)
	}
	return labels, nil
}

// defaultCacheDir is systemd's $CACHE_DIRECTORY when set, else $XDG_CACHE_HOME/edgeplane-agent,
// else /var/cache/edgeplane-agent for root, else the user's cache directory.
func defaultCacheDir(lookupEnv func(string) (string, bool)) string {
	if d, ok := lookupEnv("CACHE_DIRECTORY"); ok && d != "" {
		return strings.Split(d, ":")[0]
	}
	if d, ok := lookupEnv("XDG_CACHE_HOME"); ok && d != "" {
		return filepath.Join(d, "edgeplane-agent")
	}
	if os.Geteuid() == 0 {
		return "/var/cache/edgeplane-agent"
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "edgeplane-agent")
	}
	return "edgeplane-agent-cache"
}

// maxWorkers bounds --workers: a process per CPU is the point, and this is well past any host.
const maxWorkers = 256

// parseWorkers reads --workers: a count from 1 to maxWorkers, or auto (the CPUs this process
// may use: GOMAXPROCS as the runtime set it from the machine and its cgroup CPU limit).
func parseWorkers(s string) (int, error) {
	if s == "auto" {
		return min(runtime.GOMAXPROCS(0), maxWorkers), nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxWorkers {
		return 0, fmt.Errorf("--workers %q: want a number from 1 to %d, or auto", s, maxWorkers)
	}
	return n, nil
}
