package harness

import (
	"context"
	"fmt"

	edgeplanev1 "github.com/edgeplane/edgeplane/gen/edgeplane/v1"
)

// BenchRoute returns a valid route named name.
func BenchRoute(name string) *edgeplanev1.Route {
	return &edgeplanev1.Route{
		Name:    name,
		Hosts:   []string{name + ".bench.example"},
		Targets: []*edgeplanev1.Target{{Url: "http://127.0.0.1:9"}},
	}
}

// ListAllAgents pages through FleetService.ListAgents.
func ListAllAgents(ctx context.Context, c edgeplanev1.FleetServiceClient) ([]*edgeplanev1.Agent, error) {
	var out []*edgeplanev1.Agent
	token := ""
	for range 10000 {
		res, err := c.ListAgents(ctx, &edgeplanev1.ListAgentsRequest{PageSize: 1000, PageToken: token})
		if err != nil {
			return nil, err
		}
		out = append(out, res.GetAgents()...)
		if token = res.GetNextPageToken(); token == "" {
			return out, nil
		}
	}
	return nil, fmt.Errorf("ListAgents did not end")
}
