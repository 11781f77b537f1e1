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

func cert(name string) *edgeplanev1.TlsCertificate {
	return &edgeplanev1.TlsCertificate{Name: name, Domains: []string{name + ".test"},
		CertificatePem: []byte("cert " + name), PrivateKeyPem: []byte("key " + name)}
}

func challenge(token string) *edgeplanev1.AcmeChallenge {
	return &edgeplanev1.AcmeChallenge{Token: token, KeyAuthorization: token + ".thumb"}
}

func withTLS(r *edgeplanev1.Route, mode edgeplanev1.TlsMode, certName string) *edgeplanev1.Route {
	r.Tls = &edgeplanev1.TlsPolicy{Mode: mode, Certificate: certName}
	return r
}

func TestSet_ApplyCertificatesAndChallenges(t *testing.T) {
	base, err := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 5, Snapshot: true,
		Routes:       []*edgeplanev1.Route{withTLS(route("a"), edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, "web")},
		Certificates: []*edgeplanev1.TlsCertificate{cert("web"), cert("api")},
		Challenges:   []*edgeplanev1.AcmeChallenge{challenge("t1"), challenge("t2")}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name          string
		update        *edgeplanev1.ConfigUpdate
		certs, tokens []string
		wantErr       string
	}{
		{"delta keeps what it does not name", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5,
			Certificates: []*edgeplanev1.TlsCertificate{cert("new")}, DeletedCertificates: []string{"api"},
			Challenges: []*edgeplanev1.AcmeChallenge{challenge("t3")}, DeletedChallenges: []string{"t1", "nope"}},
			[]string{"new", "web"}, []string{"t2", "t3"}, ""},
		{"snapshot replaces", &edgeplanev1.ConfigUpdate{Revision: 6, Snapshot: true,
			Certificates: []*edgeplanev1.TlsCertificate{cert("z")}}, []string{"z"}, nil, ""},
		{"acme route without certificate is served", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5,
			Routes: []*edgeplanev1.Route{withTLS(route("b"), edgeplanev1.TlsMode_TLS_MODE_ACME, "")}},
			[]string{"api", "web"}, []string{"t1", "t2"}, ""},
		{"deleting a certificate in use", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5,
			DeletedCertificates: []string{"web"}}, nil, nil, `route "a": certificate "web" is not in the config`},
		{"certificate before its route in one update", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5,
			Routes:       []*edgeplanev1.Route{withTLS(route("c"), edgeplanev1.TlsMode_TLS_MODE_CERTIFICATE, "shop")},
			Certificates: []*edgeplanev1.TlsCertificate{cert("shop")}}, []string{"api", "shop", "web"}, []string{"t1", "t2"}, ""},
		{"certificate without key", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5,
			Certificates: []*edgeplanev1.TlsCertificate{{Name: "bad", CertificatePem: []byte("x")}}}, nil, nil, `certificate "bad": missing`},
		{"duplicate challenge", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5,
			Challenges: []*edgeplanev1.AcmeChallenge{challenge("x"), challenge("x")}}, nil, nil, `challenge "x": listed twice`},
		{"challenge without key authorization", &edgeplanev1.ConfigUpdate{Revision: 6, BaseRevision: 5,
			Challenges: []*edgeplanev1.AcmeChallenge{{Token: "x"}}}, nil, nil, `ACME challenge "x": no key authorization`},
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
			var certs, tokens []string
			for _, c := range got.Certificates() {
				certs = append(certs, c.GetName())
			}
			for _, c := range got.Challenges() {
				tokens = append(tokens, c.GetToken())
			}
			if !slices.Equal(certs, tt.certs) || !slices.Equal(tokens, tt.tokens) {
				t.Errorf("certificates %v, challenges %v; want %v, %v", certs, tokens, tt.certs, tt.tokens)
			}
			if got.Hash() == base.Hash() {
				t.Errorf("hash %q did not change", got.Hash())
			}
		})
	}
}

func TestHash_CoversCertificatesAndChallenges(t *testing.T) {
	routes := []*edgeplanev1.Route{route("a")}
	onlyRoutes, _ := HashRoutes(routes)
	s, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true, Routes: routes})
	if s.Hash() != onlyRoutes {
		t.Errorf("routes-only set hash %q, want HashRoutes %q", s.Hash(), onlyRoutes)
	}
	c1, _ := Hash(routes, []*edgeplanev1.TlsCertificate{cert("x")}, nil, nil)
	c2, _ := Hash(routes, nil, []*edgeplanev1.AcmeChallenge{challenge("x")}, nil)
	c3, _ := Hash(routes, nil, nil, []*edgeplanev1.ServiceEndpoints{{Name: "x"}})
	if c1 == onlyRoutes || c2 == onlyRoutes || c3 == onlyRoutes || c1 == c2 || c2 == c3 || c1 == c3 {
		t.Errorf("hashes %q, %q, %q, %q should all differ", onlyRoutes, c1, c2, c3)
	}
}

func TestSet_SnapshotRoundTrip(t *testing.T) {
	s, _ := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 3, Snapshot: true, Routes: []*edgeplanev1.Route{route("a")},
		Certificates: []*edgeplanev1.TlsCertificate{cert("c")}, Challenges: []*edgeplanev1.AcmeChallenge{challenge("t")}})
	again, err := (*Set)(nil).Apply(s.Snapshot())
	if err != nil || again.Hash() != s.Hash() || again.Revision() != 3 {
		t.Errorf("re-applied snapshot: %v, hash %q revision %d; want hash %q revision 3", err, again.Hash(), again.Revision(), s.Hash())
	}
}

func TestSet_ApplyServices(t *testing.T) {
	svc := func(name, url string) *edgeplanev1.ServiceEndpoints {
		return &edgeplanev1.ServiceEndpoints{Name: name, Targets: []*edgeplanev1.Target{{Url: url}}}
	}
	base, err := (*Set)(nil).Apply(&edgeplanev1.ConfigUpdate{Revision: 1, Snapshot: true,
		Routes:   []*edgeplanev1.Route{{Name: "web", Hosts: []string{"web.test"}, Service: "web"}},
		Services: []*edgeplanev1.ServiceEndpoints{svc("web", "http://127.0.0.1:9000"), svc("db", "http://127.0.0.1:9001")}})
	if err != nil {
		t.Fatal(err)
	}
	next, err := base.Apply(&edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1, DeletedServices: []string{"db"}})
	if err != nil || len(next.Services()) != 1 || next.Service("web") != base.Service("web") {
		t.Errorf("delta deleting db: %v, services %v; want web kept (same pointer)", err, next.Services())
	}
	if _, err := base.Apply(&edgeplanev1.ConfigUpdate{Revision: 2, BaseRevision: 1, Services: []*edgeplanev1.ServiceEndpoints{svc("web", "ftp://x")}}); err == nil ||
		!strings.Contains(err.Error(), `service "web": target "ftp://x"`) {
		t.Errorf("bad service target: error = %v", err)
	}
	again, _ := (*Set)(nil).Apply(next.Snapshot())
	if again.Hash() != next.Hash() {
		t.Error("snapshot of a set with services does not round-trip")
	}
}
