package state

import (
	"sort"

	"google.golang.org/protobuf/proto"

	"github.com/edgeplane/edgeplane/controlplane/internal/store"
	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// put adds a resource to the update's list for its kind.
func put(u *edgeplanev1.ConfigUpdate, kind, name string, m proto.Message) {
	store.AddToUpdate(u, kind, name, m, false)
}

// del adds a removed resource's name to the update's list for its kind.
func del(u *edgeplanev1.ConfigUpdate, kind, name string) {
	store.AddToUpdate(u, kind, name, nil, true)
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
