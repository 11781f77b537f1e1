package store_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// TestKinds_EveryKindRoundTripsAndReachesUpdates: each declared kind encodes, decodes and
// lands in its own list of a ConfigUpdate, put or deleted.
func TestKinds_EveryKindRoundTripsAndReachesUpdates(t *testing.T) {
	s, _, _ := newStore(t)
	samples := map[string]proto.Message{
		store.KindRoute:       &edgeplanev1.Route{Name: "r", Hosts: []string{"a.test"}},
		store.KindCertificate: &edgeplanev1.TlsCertificate{Name: "c", Domains: []string{"a.test"}},
		store.KindChallenge:   &edgeplanev1.AcmeChallenge{Token: "t", KeyAuthorization: "k"},
		store.KindService:     &edgeplanev1.ServiceEndpoints{Name: "s"},
	}
	for _, kind := range store.Kinds {
		t.Run(kind, func(t *testing.T) {
			m, ok := samples[kind]
			if !ok {
				t.Fatalf("kind %q has no sample in this test", kind)
			}
			b, err := s.Encode(kind, m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Decode(kind, b, 7)
			if err != nil {
				t.Fatal(err)
			}
			u := &edgeplanev1.ConfigUpdate{}
			store.AddToUpdate(u, kind, "x", got, false)
			store.AddToUpdate(u, kind, "gone", nil, true)
			puts := len(u.GetRoutes()) + len(u.GetCertificates()) + len(u.GetChallenges()) + len(u.GetServices())
			dels := len(u.GetDeletedRoutes()) + len(u.GetDeletedCertificates()) + len(u.GetDeletedChallenges()) + len(u.GetDeletedServices())
			if puts != 1 || dels != 1 {
				t.Errorf("update lists: got %d puts and %d deletes, want 1 and 1", puts, dels)
			}
		})
	}
	if _, err := s.Encode(store.KindRoute, &edgeplanev1.AcmeChallenge{}); err == nil {
		t.Error("encoding a challenge as a route: got nil error, want one")
	}
}
