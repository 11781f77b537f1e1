package fanout

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/edgeplane/edgeplane/controlplane/internal/model"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func TestSupersedes(t *testing.T) {
	t0 := time.Unix(1000, 0)
	a := &Identity{Node: "n", Fingerprint: [32]byte{1}, NotBefore: t0}
	same := &Identity{Node: "n", Fingerprint: [32]byte{1}, NotBefore: t0}
	renewed := &Identity{Node: "n", Fingerprint: [32]byte{2}, NotBefore: t0.Add(time.Hour)}
	older := &Identity{Node: "n", Fingerprint: [32]byte{3}, NotBefore: t0.Add(-time.Hour)}
	sameSecond := &Identity{Node: "n", Fingerprint: [32]byte{4}, NotBefore: t0}
	tests := []struct {
		name     string
		new, old *Identity
		want     bool
	}{
		{"no TLS", nil, nil, true},
		{"same certificate", same, a, true},
		{"renewed certificate", renewed, a, true},
		{"older certificate", older, a, false},
		{"another certificate of the same second", sameSecond, a, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := supersedes(tt.new, tt.old); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCheckHello(t *testing.T) {
	id := &Identity{Node: "edge-1", Labels: map[string]string{"zone": "token"}}
	manyLabels := map[string]string{}
	for i := range maxLabels + 1 {
		manyLabels[strings.Repeat("k", i%60+1)+string(rune('a'+i%26))+string(rune('a'+i/26))] = "v"
	}
	tests := []struct {
		name       string
		hello      *edgeplanev1.Hello
		id         *Identity
		wantField  string // a validation error naming it
		wantDenied bool
	}{
		{"fine", &edgeplanev1.Hello{NodeId: "edge-1"}, id, "", false},
		{"another node", &edgeplanev1.Hello{NodeId: "edge-2"}, id, "", true},
		{"no TLS takes the hello", &edgeplanev1.Hello{NodeId: "edge-2"}, nil, "", false},
		{"bad node id", &edgeplanev1.Hello{NodeId: "a b"}, nil, "hello.node_id", false},
		{"long version", &edgeplanev1.Hello{NodeId: "n", Version: strings.Repeat("v", maxVersion+1)}, nil, "hello.version", false},
		{"too many labels", &edgeplanev1.Hello{NodeId: "n", Labels: manyLabels}, nil, "hello.labels", false},
		{"long label value", &edgeplanev1.Hello{NodeId: "n", Labels: map[string]string{"k": strings.Repeat("v", model.MaxLabelValue+1)}}, nil, "hello.labels", false},
		{"long label key", &edgeplanev1.Hello{NodeId: "n", Labels: map[string]string{strings.Repeat("k", model.MaxLabelKey+1): "v"}}, nil, "hello.labels", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkHello(tt.hello, tt.id)
			var verr *model.ValidationError
			switch {
			case tt.wantDenied:
				if !errors.Is(err, model.ErrDenied) {
					t.Errorf("got %v, want ErrDenied", err)
				}
			case tt.wantField != "":
				if !errors.As(err, &verr) || verr.Violations[0].Field != tt.wantField {
					t.Errorf("got %v, want a violation of %s", err, tt.wantField)
				}
			case err != nil:
				t.Errorf("got %v, want nil", err)
			}
		})
	}
	h := &edgeplanev1.Hello{NodeId: "edge-1", Labels: map[string]string{"zone": "mine", "rack": "r1"}}
	if err := checkHello(h, id); err != nil || h.Labels["zone"] != "token" || h.Labels["rack"] != "r1" {
		t.Errorf("labels %v (%v): want the token's zone over the agent's, the agent's rack kept", h.Labels, err)
	}
}

func TestClip(t *testing.T) {
	long := strings.Repeat("é", maxNackError) // two bytes each
	got := clip(long, maxNackError)
	if len(got) > maxNackError || !utf8.ValidString(got) || !strings.HasSuffix(got, truncatedSuffix) {
		t.Errorf("clip: %d bytes, valid UTF-8 %v, want at most %d, valid, marked", len(got), utf8.ValidString(got), maxNackError)
	}
	if got := clip("short", maxNackError); got != "short" {
		t.Errorf("clip(short) = %q", got)
	}
}
