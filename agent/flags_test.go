package main

import (
	"maps"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/edgeplane/edgeplane/agent/internal/node"
	"github.com/edgeplane/edgeplane/agent/internal/proxy"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func TestParseFlags_EnvTwins(t *testing.T) {
	env := map[string]string{
		"EDGEPLANE_CONTROL_PLANE":       "cp.env:7000",
		"EDGEPLANE_NODE_ID":             "from-env",
		"EDGEPLANE_LABELS":              "zone=a, tier=edge",
		"EDGEPLANE_LOG_FORMAT":          "json",
		"EDGEPLANE_PROXY_PROTOCOL":      "true",
		"EDGEPLANE_PROXY_PROTOCOL_FROM": "10.0.0.0/8",
		"EDGEPLANE_STRIP_HEADERS":       "X-User, X-Email,",
		"XDG_CACHE_HOME":                "/xdg",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := []struct {
		name         string
		args         []string
		controlPlane string
		nodeID       string
		cacheDir     string
	}{
		{"environment", nil, "cp.env:7000", "from-env", "/xdg/edgeplane-agent"},
		{"flag wins", []string{"--node-id", "from-flag", "--cache-dir", "/c"}, "cp.env:7000", "from-flag", "/c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, lookup)
			if err != nil {
				t.Fatalf("parseFlags() error = %v", err)
			}
			c := o.config
			if c.ControlPlane != tt.controlPlane || c.NodeID != tt.nodeID || c.CacheDir != tt.cacheDir {
				t.Errorf("got control plane %q, node %q, cache %q; want %q, %q, %q",
					c.ControlPlane, c.NodeID, c.CacheDir, tt.controlPlane, tt.nodeID, tt.cacheDir)
			}
			if want := map[string]string{"zone": "a", "tier": "edge"}; !maps.Equal(c.Labels, want) {
				t.Errorf("labels = %v, want %v", c.Labels, want)
			}
			if !c.ProxyProtocol || !slices.Equal(c.StripHeaders, []string{"X-User", "X-Email"}) {
				t.Errorf("proxy protocol %v, strip %q; want true, [X-User X-Email]", c.ProxyProtocol, c.StripHeaders)
			}
			if o.logFormat != "json" {
				t.Errorf("log format = %q, want json", o.logFormat)
			}
		})
	}
}

func TestParseFlags_Errors(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	for _, args := range [][]string{{"--labels", "novalue"}, {"--nope"}, {"extra"}} {
		if _, err := parseFlags(args, none); err == nil {
			t.Errorf("parseFlags(%q) error = nil, want an error", args)
		}
	}
	bad := func(k string) (string, bool) { return "maybe", k == "EDGEPLANE_VERSION" }
	if _, err := parseFlags(nil, bad); err == nil {
		t.Error("EDGEPLANE_VERSION=maybe: error = nil, want an error")
	}
}

func TestParseFlags_Defaults(t *testing.T) {
	o, err := parseFlags([]string{"--https-addr", "-"}, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	c := o.config
	if c.HTTPSAddr != "" || c.ProxyProtocol || c.Pprof || !slices.Equal(c.StripHeaders, proxy.DefaultStripHeaders) {
		t.Errorf("got https %q, proxy protocol %v, pprof %v, strip %q; want HTTPS off, false, false, the default list",
			c.HTTPSAddr, c.ProxyProtocol, c.Pprof, c.StripHeaders)
	}
}

func TestParseFlags_MaxRoutes(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	o, err := parseFlags([]string{"--max-routes", "2"}, none)
	if err != nil {
		t.Fatal(err)
	}
	three := []*edgeplanev1.Route{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	if err := o.config.Validate(three[:2]); err != nil {
		t.Errorf("2 routes with --max-routes 2: %v", err)
	}
	if err := o.config.Validate(three); err == nil || !strings.Contains(err.Error(), "--max-routes 2") {
		t.Errorf("3 routes with --max-routes 2: got %v, want an error naming the limit", err)
	}
	if o, _ := parseFlags(nil, none); o.config.Validate != nil {
		t.Errorf("no --max-routes: got a Validate hook, want none")
	}
	if _, err := parseFlags([]string{"--max-routes", "-1"}, none); err == nil {
		t.Errorf("--max-routes -1: got nil error")
	}
}

func TestParseFlags_Telemetry(t *testing.T) {
	env := map[string]string{"EDGEPLANE_REDIS_URL": "redis://r.env:6379/0", "EDGEPLANE_REQUEST_STREAM": "ns:logs:request:stream"}
	o, err := parseFlags([]string{"--trace-buffer", "64"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatalf("parseFlags() error = %v", err)
	}
	if c := o.config; c.RedisURL != "redis://r.env:6379/0" || c.RequestStream != "ns:logs:request:stream" || c.TraceBuffer != 64 {
		t.Errorf("got redis %q, stream %q, buffer %d", c.RedisURL, c.RequestStream, c.TraceBuffer)
	}
	o, err = parseFlags(nil, func(string) (string, bool) { return "", false })
	if err != nil || o.config.RedisURL != "" || o.config.RequestStream != "" {
		t.Errorf("defaults: %v, redis %q, stream %q; want the control plane's settings", err, o.config.RedisURL, o.config.RequestStream)
	}
	if _, err := parseFlags([]string{"--trace-buffer", "0"}, func(string) (string, bool) { return "", false }); err == nil {
		t.Error("--trace-buffer 0: error = nil, want an error")
	}
}

func TestParseFlags_Limits(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	o, err := parseFlags([]string{"--max-body-bytes", "1024", "--body-timeout", "5s", "--proxy-protocol", "--proxy-protocol-from", "10.0.0.0/8,192.0.2.1"}, none)
	if err != nil {
		t.Fatalf("parseFlags() error = %v", err)
	}
	if l := o.config.Limits; l.MaxBodyBytes != 1024 || l.BodyTimeout != 5*time.Second || l.MaxHeaderCount != proxy.DefaultMaxHeaderCount {
		t.Errorf("limits = %+v, want body 1024, body timeout 5s, default header count", l)
	}
	for _, args := range [][]string{
		{"--proxy-protocol"},
		{"--proxy-protocol", "--proxy-protocol-from", "10.0.0.0/33"},
		{"--max-body-bytes", "0"},
		{"--write-timeout", "-1s"},
	} {
		if _, err := parseFlags(args, none); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", args)
		}
	}
}

func TestParseFlags_ReconnectMax(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want time.Duration
	}{
		{"default", nil, nil, node.DefaultReconnectMax},
		{"environment", nil, map[string]string{"EDGEPLANE_RECONNECT_MAX": "5s"}, 5 * time.Second},
		{"flag", []string{"--reconnect-max", "500ms"}, nil, 500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok })
			if err != nil {
				t.Fatalf("parseFlags() error = %v", err)
			}
			if got := o.config.Backoff.Max; got != tt.want {
				t.Errorf("reconnect max = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseFlags_Workers(t *testing.T) {
	none := func(string) (string, bool) { return "", false }
	for _, tt := range []struct {
		args []string
		want int
	}{
		{nil, 1},
		{[]string{"--workers", "3"}, 3},
		{[]string{"--workers", "auto"}, min(runtime.GOMAXPROCS(0), maxWorkers)},
	} {
		o, err := parseFlags(tt.args, none)
		if err != nil || o.config.Workers != tt.want {
			t.Errorf("parseFlags(%q): workers %v %v, want %d", tt.args, o.config.Workers, err, tt.want)
		}
	}
	for _, bad := range []string{"0", "-1", "257", "two", ""} {
		if _, err := parseFlags([]string{"--workers", bad}, none); err == nil || !strings.Contains(err.Error(), "--workers") {
			t.Errorf("--workers %q: error %v, want one naming --workers", bad, err)
		}
	}
}
