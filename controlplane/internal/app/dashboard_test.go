package app

import (
	"strings"
	"testing"
)

func TestDashboard_ServedOnlyWhereSafe(t *testing.T) {
	tests := []struct {
		name, mode, httpAddr string
		wantErr              string // "" : New succeeds
		wantServed           bool
	}{
		{"auto on loopback", "", "127.0.0.1:0", "", true},
		{"auto on a wildcard address", DashboardAuto, "0.0.0.0:0", "", false},
		{"off", DashboardOff, "127.0.0.1:0", "", false},
		{"on without auth off loopback", DashboardOn, "0.0.0.0:0", "--dashboard on with --http-addr", false},
		{"on without auth on loopback", DashboardOn, "127.0.0.1:0", "", true},
		{"unknown mode", "yes", "127.0.0.1:0", `--dashboard "yes"`, false},
		{"no HTTP listener", DashboardOn, "-", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{Dev: true, GRPCAddr: "127.0.0.1:0", HTTPAddr: tt.httpAddr, Dashboard: tt.mode})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				a.grpcLn.Close()
				if a.httpLn != nil {
					a.httpLn.Close()
				}
				a.closeAll()
			})
			if got := a.DashboardURL() != ""; got != tt.wantServed {
				t.Errorf("served: got %v (%q), want %v", got, a.DashboardURL(), tt.wantServed)
			}
		})
	}
}
