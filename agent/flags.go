package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/edgeplane/edgeplane/agent/internal/node"
)

// options is the parsed command line.
type options struct {
	config    node.Config
	httpsAddr string
	logFormat string
	logLevel  string
	version   bool
}

// parseFlags parses args; a flag not given takes its EDGEPLANE_* variable from lookupEnv,
// else its default.
func parseFlags(args []string, lookupEnv func(string) (string, bool)) (*options, error) {
	var o options
	var labels string
	fs := flag.NewFlagSet("edgeplane-agent", flag.ContinueOnError)
	fs.StringVar(&o.config.ControlPlane, "control-plane", node.DefaultControlPlane, "control plane gRPC address, host:port")
	fs.StringVar(&o.config.NodeID, "node-id", "", "name of this node in the fleet (default: the host name)")
	fs.StringVar(&labels, "labels", "", "node labels, k=v,k2=v2")
	fs.StringVar(&o.config.HTTPAddr, "http-addr", node.DefaultHTTPAddr, "proxy listen address for HTTP")
	fs.StringVar(&o.httpsAddr, "https-addr", ":8443", "proxy listen address for HTTPS (TLS termination comes later; not listened on yet)")
	fs.StringVar(&o.config.MetricsAddr, "metrics-addr", node.DefaultMetricsAddr, "listen address for /healthz and /readyz")
	fs.StringVar(&o.config.CacheDir, "cache-dir", defaultCacheDir(lookupEnv), "directory for the config cache (created if missing)")
	fs.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if err := applyEnv(fs, lookupEnv); err != nil {
		return nil, err
	}
	var err error
	o.config.Labels, err = parseLabels(labels)
	return &o, err
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
