package docker

import "testing"

func TestPolicy_ImageAllowed(t *testing.T) {
	p := Policy{AllowedImages: []string{"registry.example.com/team", "nginxinc/nginx-unprivileged:1.27", "ghcr.io/org/"}}
	tests := []struct {
		image string
		want  bool
	}{
		{"registry.example.com/team", true},
		{"registry.example.com/team/app:1", true},
		{"registry.example.com/team:1", true},
		{"registry.example.com/team@sha256:abc", true},
		{"registry.example.com/team-b/app", false},
		{"registry.example.com/teams", false},
		{"nginxinc/nginx-unprivileged:1.27", true},
		{"nginxinc/nginx-unprivileged:1.27-alpine", false},
		{"nginxinc/nginx-unprivileged:1.28", false},
		{"ghcr.io/org/anything:v1", true},
		{"ghcr.io/organisation/x", false},
		{"evil.example.com/registry.example.com/team", false},
	}
	for _, tt := range tests {
		if got := p.imageAllowed(tt.image); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.image, got, tt.want)
		}
	}
	if !(Policy{}).imageAllowed("anything") {
		t.Error("no allowed images must allow any")
	}
}

func TestIsRoot(t *testing.T) {
	for user, want := range map[string]bool{"0": true, "root": true, "0:0": true, "root:wheel": true,
		"1000": false, "65534:0": false, "rooted": false, "": false, "00": true, "000:1": true} {
		if got := isRoot(user); got != want {
			t.Errorf("isRoot(%q): got %v, want %v", user, got, want)
		}
	}
}
