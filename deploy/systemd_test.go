package deploy

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// directives reads a unit file into key -> values (a key may repeat).
func directives(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string][]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || line[0] == '#' || line[0] == ';' || line[0] == '[' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not a directive: %q", path, line)
		}
		m[k] = append(m[k], v)
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSystemdUnits_Hardening(t *testing.T) {
	common := map[string]string{
		"DynamicUser":     "yes",
		"NoNewPrivileges": "yes",
		"ProtectSystem":   "strict",
		"ProtectHome":     "yes",
		"PrivateTmp":      "yes",
		"Restart":         "always",
	}
	tests := []struct {
		unit string
		want map[string]string
	}{
		{"edgeplane-control.service", map[string]string{
			"EnvironmentFile":       "/etc/edgeplane/control.env",
			"ExecStart":             "/usr/local/bin/edgeplane-control",
			"CapabilityBoundingSet": "",
		}},
		{"edgeplane-agent.service", map[string]string{
			"EnvironmentFile":       "/etc/edgeplane/agent.env",
			"ExecStart":             "/usr/local/bin/edgeplane-agent",
			"CacheDirectory":        "edgeplane-agent",
			"AmbientCapabilities":   "CAP_NET_BIND_SERVICE",
			"CapabilityBoundingSet": "CAP_NET_BIND_SERVICE",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.unit, func(t *testing.T) {
			got := directives(t, filepath.Join("systemd", tt.unit))
			for k, want := range merge(common, tt.want) {
				vs, ok := got[k]
				if !ok {
					t.Errorf("%s: missing, want %q", k, want)
					continue
				}
				if vs[len(vs)-1] != want {
					t.Errorf("%s: got %q, want %q", k, vs[len(vs)-1], want)
				}
			}
		})
	}
}

func merge(a, b map[string]string) map[string]string {
	m := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		m[k] = v
	}
	for k, v := range b {
		m[k] = v
	}
	return m
}
