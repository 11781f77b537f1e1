package main

import (
	"maps"
	"testing"
)

func TestParseFlags_EnvTwins(t *testing.T) {
	env := map[string]string{
		"EDGEPLANE_CONTROL_PLANE": "cp.env:7000",
		"EDGEPLANE_NODE_ID":       "from-env",
		"EDGEPLANE_LABELS":        "zone=a, tier=edge",
		"EDGEPLANE_LOG_FORMAT":    "json",
		"XDG_CACHE_HOME":          "/xdg",
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
