package state

import (
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// put adds a resource to the update's list for its kind.
func put(u *edgeplanev1.ConfigUpdate, m proto.Message) {
	switch v := m.(type) {
	case *edgeplanev1.Route:
		u.Routes = append(u.Routes, v)
	case *edgeplanev1.TlsCertificate:
		u.Certificates = append(u.Certificates, v)
	case *edgeplanev1.AcmeChallenge:
		u.Challenges = append(u.Challenges, v)
	case *edgeplanev1.ServiceEndpoints:
		u.Services = append(u.Services, v)
	}
}

// del adds a removed resource's name to the update's list for its kind.
func del(u *edgeplanev1.ConfigUpdate, kind, name string) {
	switch kind {
	case store.KindRoute:
		u.DeletedRoutes = append(u.DeletedRoutes, name)
	case store.KindCertificate:
		u.DeletedCertificates = append(u.DeletedCertificates, name)
	case store.KindChallenge:
		u.DeletedChallenges = append(u.DeletedChallenges, name)
	case store.KindService:
		u.DeletedServices = append(u.DeletedServices, name)
	}
}

// sortUpdate orders every list by name, so equal configs encode equally.
func sortUpdate(u *edgeplanev1.ConfigUpdate) {
	sort.Slice(u.Routes, func(i, j int) bool { return u.Routes[i].GetName() < u.Routes[j].GetName() })
	sort.Slice(u.Certificates, func(i, j int) bool { return u.Certificates[i].GetName() < u.Certificates[j].GetName() })
	sort.Slice(u.Challenges, func(i, j int) bool { return u.Challenges[i].GetToken() < u.Challenges[j].GetToken() })
	sort.Slice(u.Services, func(i, j int) bool { return u.Services[i].GetName() < u.Services[j].GetName() })
	for _, l := range [][]string{u.DeletedRoutes, u.DeletedCertificates, u.DeletedChallenges, u.DeletedServices} {
		sort.Strings(l)
	}
}
