package node

import (
	"strings"
	"testing"
)

func TestNew_TransportChoice(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // empty: no error
	}{
		{"loopback plaintext", Config{ControlPlane: "127.0.0.1:7000"}, ""},
		{"remote plaintext refused", Config{ControlPlane: "cp.example.test:7000"}, "--join-token"},
		{"remote plaintext with --insecure", Config{ControlPlane: "cp.example.test:7000", Insecure: true}, ""},
		{"token without pin", Config{ControlPlane: "cp.example.test:7000", JoinToken: "abcdef.x"}, "--ca-pin"},
		{"token with pin", Config{ControlPlane: "cp.example.test:7000", JoinToken: "abcdef.x", CAPin: "sha256:" + strings.Repeat("0a", 32)}, ""},
		{"token without a cache dir", Config{ControlPlane: "cp.example.test:7000", JoinToken: "abcdef.x", CAPin: "sha256:" + strings.Repeat("0a", 32), CacheDir: "-"}, "--cache-dir"},
		{"malformed pin", Config{ControlPlane: "cp.example.test:7000", JoinToken: "abcdef.x", CAPin: "sha256:00"}, "--ca-pin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.NodeID = "n"
			if tt.cfg.CacheDir == "" {
				tt.cfg.CacheDir = t.TempDir()
			}
			if tt.cfg.CacheDir == "-" {
				tt.cfg.CacheDir = ""
			}
			_, err := New(tt.cfg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("got %v, want an error mentioning %s", err, tt.wantErr)
			}
		})
	}
}
