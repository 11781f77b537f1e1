package alerts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLoadRules_Table(t *testing.T) {
	tests := []struct {
		name, json, err string
		want            []Rule
	}{
		{"thresholds", `[{"kind":"error_rate","threshold":0.02,"minRequests":50},{"kind":"latency","duration":"500ms","severity":"critical"}]`, "",
			[]Rule{{Kind: ErrorRate, Threshold: 0.02, MinRequests: 50}, {Kind: Latency, Duration: 500 * time.Millisecond, Severity: Critical}}},
		{"unknown kind", `[{"kind":"cpu"}]`, "rule 0: kind", nil},
		{"bad severity", `[{"kind":"latency","severity":"loud"}]`, "severity", nil},
		{"bad duration", `[{"kind":"agent_down","duration":"soon"}]`, "duration", nil},
		{"share over 1", `[{"kind":"error_rate","threshold":5}]`, "threshold", nil},
		{"unknown field", `[{"kind":"latency","treshold":1}]`, "unknown field", nil},
		{"not an array", `{"kind":"latency"}`, "cannot unmarshal", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "rules.json")
			if err := os.WriteFile(p, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadRules(p)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("rule %d: got %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
	if _, err := LoadRules(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Errorf("missing file: got nil error")
	}
}
