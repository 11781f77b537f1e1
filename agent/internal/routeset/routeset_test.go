package routeset

import (
	"errors"
	"slices"
	"strings"
	"testing"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

func route(name string) *edgeplanev1.Route {
	return &edgeplanev1.Route{
		Name:    name,
		Hosts:   []string{name + ".example.com"},
		Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:9000"}},
	}
}

func names(s *Set) []string {
	var out []string
	for _, r := range s.Routes() {
		out = append(out, r.GetName())
	}
	return out
}

func TestSet_Apply(t *testing.T) {
	base, err := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 5, Snapshot: true,
		Routes: []*edgeplanev1.Route{route("b"), route("a"), route("c")}})
	if err != nil {
		t.Fatal(err)
	}
	badTLS := route("d")
	badTLS.Tls = &edgeplanev1.TlsPolicy{Mode: edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, Certificate: "web"}
	badURL := route("d")
	badURL.Targets[0].Url = "ftp://x"
	tests := []struct {
		name    string
		update  *edgeplanev1.ConfigUpdate
		want    []string
		wantErr string
	}{
		{"snapshot replaces", &edgeplanev1.ConfigUpdate{Revision: 6, Snapshot: true, Routes: []*edgeplanev1.Route{route("z")}}, []string{"z"}, ""},
		{"delta upserts and deletes", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5, Routes: []*edgeplanev1.Route{route("d")}, DeletedRoutes: []string{"a", "nope"}}, []string{"b", "c", "d"}, ""},
		{"base mismatch", &edgeplanev1.ConfigUpdate{Revision: 7, BaseRevision: 6}, nil, "based on 6, the agent serves 5"},
		{"duplicate", &edgeplanev1.ConfigUpdate{Revision: 6, Snapshot: true, Routes: []*edgeplanev1.Route{route("a"), route("a")}}, nil, `route "a": listed twice`},
		{"changed and deleted", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5, Routes: []*edgeplanev1.Route{route("a")}, DeletedRoutes: []string{"a"}}, nil, `route "a": both changed and deleted`},
		{"unknown certificate", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5, Routes: []*edgeplanev1.Route{badTLS}}, nil, `route "d": certificate "web" is not in the config`},
		{"bad target", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5, Routes: []*edgeplanev1.Route{badURL}}, nil, `route "d": target "ftp://x": scheme must be http or https`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := base.Apply(tt.update)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Apply() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply() error = %v", err)
			}
			if !slices.Equal(names(got), tt.want) {
				t.Errorf("routes = %v, want %v", names(got), tt.want)
			}
			if got.Revision() != tt.update.GetRevision() {
				t.Errorf("Revision() = %d, want %d", got.Revision(), tt.update.GetRevision())
			}
			if !slices.Equal(names(base), []string{"a", "b", "c"}) {
				t.Errorf("base changed to %v", names(base))
			}
		})
	}
}

func TestSet_ApplyBaseMismatchIsTyped(t *testing.T) {
	_, err := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1})
	if !errors.Is(err, ErrBaseMismatch) {
		t.Errorf("Apply() error = %v, want ErrBaseMismatch", err)
	}
}

func TestSet_DeltaKeepsUnchangedPointers(t *testing.T) {
	a, b := route("a"), route("b")
	s1, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{a, b}})
	s2, err := s1.Apply(&edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1, Routes: []*edgeplanev1.Route{route("b")}})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Get("a") != a {
		t.Error("unchanged route a got a new pointer")
	}
	if s2.Get("b") == b {
		t.Error("changed route b kept its old pointer")
	}
}

func TestHashRoutes_DependsOnContentNotOrderOfArrival(t *testing.T) {
	s1, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{route("a"), route("b")}})
	s2, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 9, Snapshot: true, Routes: []*edgeplanev1.Route{route("b"), route("a")}})
	s3, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: []*edgeplanev1.Route{route("a")}})
	if s1.Hash() != s2.Hash() {
		t.Errorf("same routes, different hashes %q and %q", s1.Hash(), s2.Hash())
	}
	if s1.Hash() == s3.Hash() {
		t.Errorf("different routes, same hash %q", s1.Hash())
	}
	if len(s1.Hash()) != 16 {
		t.Errorf("hash %q has %d characters, want 16", s1.Hash(), len(s1.Hash()))
	}
}
