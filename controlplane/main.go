// Command edgeplane-control is edgeplane's control plane: it keeps routes in Redis and
// streams them to agents over gRPC.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgeplane/edgeplane/controlplane/internal/alerts"
	"github.com/edgeplane/edgeplane/controlplane/internal/app"
	"github.com/edgeplane/edgeplane/controlplane/internal/gcfloor"
	"github.com/edgeplane/edgeplane/controlplane/internal/ports"
	"github.com/edgeplane/edgeplane/internal/logging"
)

var version = "dev"

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgeplane-control:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) > 0 && args[0] == "token" {
		return runToken(args[1:])
	}
	if len(args) > 0 && (args[0] == "backup" || args[0] == "restore") {
		return runBackup(args[1:], args[0] == "restore")
	}
	fs := flag.NewFlagSet("edgeplane-control", flag.ContinueOnError)
	var cfg app.Config
	var logFormat, logLevel string
	var showVersion bool
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "Redis URL of the state store: redis://[:password@]host:port/db; add ?addr=h:p for Cluster, ?master_name=NAME for Sentinel")
	fs.IntVar(&cfg.RedisMinReplicas, "redis-min-replicas", 0, "acknowledge a config write only once this many Redis replicas have it (WAIT); unconfirmed writes fail with Unavailable and may still take effect")
	fs.DurationVar(&cfg.RedisMinReplicasTimeout, "redis-min-replicas-timeout", time.Second, "how long a config write waits for --redis-min-replicas replicas (at most 30s)")
	fs.BoolVar(&cfg.Dev, "dev", false, "run on an embedded in-memory store (nothing persists)")
	fs.StringVar(&cfg.GRPCAddr, "grpc-addr", "127.0.0.1:7000", "gRPC API listen address")
	fs.StringVar(&cfg.HTTPAddr, "http-addr", "127.0.0.1:7001", "health endpoint listen address (- disables)")
	fs.StringVar(&cfg.ReplicaID, "replica-id", "", "name of this replica (default: host name and a random suffix)")
	fs.StringVar(&cfg.Namespace, "namespace", "edgeplane", "names every Redis key: state keys {NS}:..., and telemetry streams NS:logs:all:stream, ... unless NS is edgeplane (see --stream-namespace)")
	fs.StringVar(&cfg.AgentRedisURL, "agent-redis-url", "", "Redis URL sent to agents for their request records (use an XADD-only ACL user); default: none, --dev: the embedded store; \"-\": none, in --dev too")
	fs.StringVar(&cfg.StreamNamespace, "stream-namespace", "", "prefix of the telemetry streams (logs:all:stream, ...); default: none with the default --namespace, else NS:")
	fs.StringVar(&cfg.SecretsKeyFile, "secrets-key-file", "", "file with the 32-byte key sealing private keys in Redis (openssl rand -hex 32)")
	fs.StringVar(&cfg.ACMEDirectory, "acme-directory", "", "ACME directory URL for certificates, e.g. https://acme-v02.api.letsencrypt.org/directory (empty: ACME needs a per-certificate directory)")
	fs.StringVar(&cfg.ACMEEmail, "acme-email", "", "contact e-mail of the ACME account")
	fs.StringVar(&cfg.ACMECAFile, "acme-ca-file", "", "PEM file of extra roots to trust for the ACME server (a private or test CA)")
	fs.DurationVar(&cfg.ACMERetryMin, "acme-retry-min", time.Minute, "delay before retrying a failed ACME order; doubles with each failure up to 6h")
	fs.StringVar(&cfg.DockerHost, "docker-host", "", "Docker engine for services, e.g. unix:///var/run/docker.sock or tcp://host:2376 (default: DOCKER_HOST, then the local socket)")
	fs.Func("port-ranges", "port range per purpose, e.g. service=20000-29999,tcp=30000-30999 (purposes not listed keep these defaults)", func(v string) error {
		r, err := ports.ParseRanges(v)
		cfg.PortRanges = r
		return err
	})
	fs.Func("reserved-ports", "ports never leased, e.g. 20080,21000-21099", func(v string) error {
		r, err := ports.ParseReserved(v)
		cfg.ReservedPorts = r
		return err
	})
	cfg.PublishAddress = "127.0.0.1"
	fs.Func("publish-address", "host IP Docker services' ports are published on and agents are sent to (default 127.0.0.1)", func(v string) error {
		if _, err := netip.ParseAddr(v); err != nil {
			return fmt.Errorf("%q is not an IP address", v)
		}
		cfg.PublishAddress = v
		return nil
	})
	fs.Func("alert-webhook", "URL receiving alerts in Alertmanager's webhook format (repeat, or comma-separate, for several)", func(v string) error {
		for _, u := range strings.Split(v, ",") {
			if u = strings.TrimSpace(u); u == "" {
				continue
			}
			if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
				return fmt.Errorf("%q is not an http(s) URL", u)
			}
			cfg.AlertWebhooks = append(cfg.AlertWebhooks, u)
		}
		return nil
	})
	fs.Func("alert-rules", "JSON file of alert rules replacing the defaults (thresholds per rule; see README)", func(v string) error {
		rules, err := alerts.LoadRules(v)
		cfg.AlertRules = rules
		return err
	})
	telemetryFlags(fs, &cfg.Telemetry)
	fs.BoolVar(&cfg.Insecure, "insecure", false, "serve gRPC in plaintext without authentication; only on a loopback --grpc-addr (default: TLS, which needs --secrets-key-file)")
	fs.Func("advertise-names", "DNS names and IPs agents and admins reach the control plane by, comma-separated; they go into its server certificate with the --grpc-addr host", func(v string) error {
		for _, n := range strings.Split(v, ",") {
			if n = strings.TrimSpace(n); n != "" {
				cfg.AdvertiseNames = append(cfg.AdvertiseNames, n)
			}
		}
		return nil
	})
	fs.StringVar(&cfg.TLSCertFile, "tls-cert", "", "PEM server certificate chain for gRPC (default: one the cluster CA issues); agents verify it against the cluster CA")
	fs.StringVar(&cfg.TLSKeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&cfg.CACertFile, "ca-cert", "", "PEM cluster CA certificate to use instead of one made on first start (stored in Redis, shared by every replica)")
	fs.StringVar(&cfg.CAKeyFile, "ca-key", "", "PEM private key of --ca-cert")
	fs.DurationVar(&cfg.AgentCertLifetime, "agent-cert-lifetime", 30*24*time.Hour, "lifetime of agents' client certificates; agents renew at two thirds of it")
	fs.DurationVar(&cfg.AgentRetention, "agent-retention", app.DefaultAgentRetention, "how long the status of an agent not seen is kept in FleetService")
	securityFlags(fs, &cfg)
	fs.StringVar(&cfg.Dashboard, "dashboard", app.DashboardAuto, "web dashboard on --http-addr under /ui/: auto (served when --http-addr is loopback), on (any address; with auth on, its cookies are Secure: front it with TLS), off")
	fs.StringVar(&logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&logLevel, "log-level", "info", "log level: debug, info, warn or error, then optional per-component levels: info,fanout=debug")
	fs.BoolVar(&showVersion, "version", false, "print the version and exit")
	if err := parse(fs, args); err != nil {
		return err
	}
	if showVersion {
		fmt.Println("edgeplane-control", version)
		return nil
	}
	log, err := logging.New(logging.Config{Format: logFormat, Level: logLevel, Writer: os.Stderr})
	if err != nil {
		return err
	}
	cfg.Logger = log
	a, err := app.New(cfg)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go gcfloor.Run(ctx)
	return a.Run(ctx)
}

// parse reads args, after filling every flag not given on the command line from its
// EDGEPLANE_* environment twin (--redis-url from EDGEPLANE_REDIS_URL).
func parse(fs *flag.FlagSet, args []string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "EDGEPLANE_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(name); ok && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s=%q: %w", name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	return fs.Parse(args)
}
